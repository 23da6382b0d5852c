"""Renderings of issued documents: UBL 2.1 XML and PDF. Pure functions of the stored document."""
