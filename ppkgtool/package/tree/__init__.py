"""The package's own file tree, one module per format, each reading and writing it (issue 16):

- ``provxml``: the wap-provisioningdoc files Windows applies (characteristics and parms);
- ``runtime``: RunTime.xml / User_RunTime.xml (ConfigurationSet lines, ProfileSet conditions);
- ``datastore``: Multivariant/<n>/MasterDatastore.xml (which configuration sources exist);
- ``dataasset``: DataAsset/DataAsset.xml (which asset file belongs to which setting);
- ``index``: CommonSettings/CommonSettings.xml and Multivariant/Multivariant.xml;
- customizations.xml and AnswerFile.xml: ``ppkgtool.package.customizations`` (reader) and
  ``ppkgtool.package.layout.serialize_element`` (writer, the same element walk).

Readers parse through the project's one hardened XML parser (ppkgtool.xmlsafe); writers write
through ``xmltext`` as WCD does. Paths and file naming live in ``ppkgtool.package.layout``.
"""
