"""Hospitals publish their signed insurance XML (QĐ 130/QĐ-BYT, as amended by QĐ 4750 and
QĐ 3176) into the health book."""
