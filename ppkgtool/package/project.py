"""Windows Configuration Designer project folders: ``<Name>.icdproj.xml`` beside ``customizations.xml``.

WCD saves a project as a folder holding ``<Name>.icdproj.xml`` (``<ICDProject Name= Version= Id=
TemplateType=>`` with ``TargetEditions/Sku`` entries naming the settings stores it used, e.g.
``Microsoft-Desktop-Provisioning.dat``), ``customizations.xml`` (what ``build`` compiles) and often
``SettingsMetadata.xml`` and ICD logs (corpus/wcd-projects in the fixtures [C]). ``build`` accepts
the folder or the ``.icdproj.xml`` file; this module finds the customizations and reads the project
facts. Parsing goes through the project's hardened XML parser (no DTDs, no entities).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ppkgtool.errors import CustomizationsError
from ppkgtool.package.customizations import local_name, safe_parse_xml

PROJECT_SUFFIX = ".icdproj.xml"
MAX_PROJECT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class WcdProject:
    path: Path                        # the .icdproj.xml file
    name: str
    version: str                      # the WCD version that saved it (e.g. 10.0.19041.1, 2020.507.0.0)
    project_id: str
    template_type: str
    stores: tuple[str, ...]           # TargetEditions/Sku/SourcePath, e.g. Microsoft-Desktop-Provisioning.dat
    customizations: Path

    def to_json(self) -> dict:
        return {"project": str(self.path), "name": self.name, "version": self.version, "id": self.project_id,
                "template_type": self.template_type, "stores": list(self.stores),
                "customizations": str(self.customizations)}


def is_project(path: os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() or p.name.lower().endswith(PROJECT_SUFFIX)


def read_project(path: os.PathLike) -> WcdProject:
    """A WCD project folder (or its .icdproj.xml) -> its facts and its customizations.xml."""
    p = Path(path)
    if p.is_dir():
        found = sorted(q for q in p.iterdir() if q.name.lower().endswith(PROJECT_SUFFIX) and q.is_file())
        if not found:
            raise CustomizationsError(f"{p} is a folder without a WCD project (*{PROJECT_SUFFIX})",
                                      hint="give the customizations.xml file or a WCD project folder")
        if len(found) > 1:
            raise CustomizationsError(f"{p} holds {len(found)} WCD projects: " + ", ".join(q.name for q in found),
                                      hint="give the .icdproj.xml file to build")
        p = found[0]
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CustomizationsError(f"cannot read {p}: {exc.strerror}") from None
    root = safe_parse_xml(data, source_name=str(p), max_bytes=MAX_PROJECT_BYTES)
    if local_name(root) != "ICDProject":
        raise CustomizationsError(f"root element is <{local_name(root)}>, not <ICDProject>", where=str(p))
    stores = tuple(el.text.strip() for el in root.iter() if local_name(el) == "SourcePath" and el.text)
    cust = p.parent / "customizations.xml"
    if not cust.is_file():
        cands = [q for q in p.parent.iterdir() if q.name.lower() == "customizations.xml" and q.is_file()]
        if not cands:
            raise CustomizationsError(f"the WCD project {p.name} has no customizations.xml beside it", where=str(p))
        cust = cands[0]
    return WcdProject(path=p, name=root.get("Name") or p.name[: -len(PROJECT_SUFFIX)],
                      version=root.get("Version") or "", project_id=root.get("Id") or "",
                      template_type=root.get("TemplateType") or "", stores=stores, customizations=cust)


__all__ = ["WcdProject", "is_project", "read_project"]
