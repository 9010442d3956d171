"""What `sam build` built for the template's architecture, checked statically (this machine cannot run it):
every compiled module is for that architecture, CPython 3.12 and a glibc no newer than Lambda's; the layer
holds exactly its pinned closure, at the project's constraints, and botocore's data for the services the
code makes clients for."""

from __future__ import annotations

import json
import re
from email.parser import Parser
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.fakes.data import REPO, load_template

TARGET_BUILD = REPO / ".aws-sam" / "build"
HOST_BUILD = REPO / ".aws-sam" / "build-host"
LAMBDA_GLIBC = (2, 34)  # Amazon Linux 2023, the python3.12 runtime's OS
ELF_MACHINE = {"arm64": "EM_AARCH64", "x86_64": "EM_X86_64"}
WHEEL_ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}
# Lambda's python3.12 environment: what a requirement's markers are evaluated against.
LAMBDA_MARKERS = {"python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux"}
LAMBDA_MARKERS |= {"platform_system": "Linux", "implementation_name": "cpython", "os_name": "posix"}
LAMBDA_MARKERS |= {"platform_python_implementation": "CPython", "extra": ""}
# A client made for a service: `.client("ssm")`, `.client(\n "bedrock-runtime", ...)`, `to_thread(x.client, "events")`
CLIENT_CALL = re.compile(r"""\bclient\(\s*["']([a-z0-9-]+)["']|\.client,\s*["']([a-z0-9-]+)["']""")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)\s*$", line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def built(root: Path) -> Path:
    if not (root / "template.yaml").exists():
        pytest.fail(f"{root} is missing: run `make build build-host` (make test does) before the tests")
    return root


def architecture() -> str:
    (arch,) = load_template()["Globals"]["Function"]["Architectures"]
    return str(arch)


def compiled_modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and (p.suffix == ".so" or ".so." in p.name))


def glibc_needed(elf: ELFFile) -> set[tuple[int, ...]]:
    needed = set()
    for section in elf.iter_sections():
        if isinstance(section, GNUVerNeedSection):
            for _, auxiliaries in section.iter_versions():
                for aux in auxiliaries:
                    if aux.name.startswith("GLIBC_2."):
                        needed.add(tuple(int(n) for n in aux.name.removeprefix("GLIBC_").split(".")))
    return needed


def problems_of(root: Path, arch: str) -> list[str]:
    """Every compiled module that Lambda's python3.12 on `arch` could not load, and why."""
    problems = []
    for path in compiled_modules(root):
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
            handle.seek(0)
            elf = ELFFile(handle)
            if elf["e_machine"] != ELF_MACHINE[arch]:
                problems.append(f"{path.relative_to(root)}: built for {elf['e_machine']}, not {ELF_MACHINE[arch]}")
            newest = max(glibc_needed(elf), default=(2, 0))
            if newest > LAMBDA_GLIBC:
                problems.append(f"{path.relative_to(root)}: needs GLIBC_{'.'.join(map(str, newest))} (Lambda: 2.34)")
        tag = re.search(r"\.cpython-(\d+)-([a-z0-9_]+)-linux-gnu\.so$", path.name)
        if tag and (tag.group(1) != "312" or tag.group(2) != WHEEL_ARCH[arch]):
            problems.append(f"{path.relative_to(root)}: an extension for cpython-{tag.group(1)}-{tag.group(2)}")
    for wheel in root.rglob("*.dist-info/WHEEL"):
        for tag in Parser().parsestr(wheel.read_text(encoding="utf-8")).get_all("Tag", []):
            python, abi, platform = tag.split("-")
            if platform != "any" and (WHEEL_ARCH[arch] not in platform or abi not in ("cp312", "abi3", "none")):
                problems.append(f"{wheel.parent.name}: wheel tag {tag} is not cp312 on {arch}")
    return problems


def test_rel_52_the_target_build_is_for_the_templates_architecture_cpython312_and_lambdas_glibc() -> None:
    root, arch = built(TARGET_BUILD), architecture()
    assert len(compiled_modules(root / "RoutingLayer")) > 10  # numpy, pydantic-core, orjson... were looked at
    assert compiled_modules(root / "StreamingFunction")  # uvloop, httptools
    assert problems_of(root, arch) == []


def test_rel_52_the_check_names_a_wheel_for_the_wrong_platform() -> None:
    """Bad input: the host twin (x86_64 here) read as if it were the arm64 target fails, naming the modules."""
    host = built(HOST_BUILD)
    other = "x86_64" if architecture() == "arm64" else "arm64"
    wrong = problems_of(host, "arm64" if other == "x86_64" else "x86_64")
    assert any("_pydantic_core" in p and "not EM_" in p for p in wrong), wrong[:5]
    assert any("wheel tag" in p for p in wrong)


def test_the_layer_holds_its_pinned_closure_at_the_projects_constraints() -> None:
    """shared/requirements.txt pins every package the layer ships, at constraints.txt's version; and every
    dependency of every package in the built layer is in it (nothing unpinned, nothing missing)."""
    layer_pins = pins(REPO / "shared" / "requirements.txt")
    constraints = pins(REPO / "constraints.txt")
    assert {k: v for k, v in layer_pins.items() if constraints.get(k) != v} == {}
    site = built(TARGET_BUILD) / "RoutingLayer" / "python"
    shipped = {}
    for metadata in site.glob("*.dist-info/METADATA"):
        fields = Parser().parsestr(metadata.read_text(encoding="utf-8"))
        shipped[canonicalize_name(fields["Name"])] = (fields["Version"], fields.get_all("Requires-Dist", []))
    assert {k: v for k, (v, _) in shipped.items()} == layer_pins
    assert unmet_requirements(shipped) == []


def unmet_requirements(shipped: dict[str, tuple[str, list[str]]]) -> list[str]:
    unmet = []
    for name, (_, requires) in shipped.items():
        for requirement in map(Requirement, requires):
            if requirement.marker is not None and not requirement.marker.evaluate(LAMBDA_MARKERS):
                continue
            have = shipped.get(canonicalize_name(requirement.name))
            if have is None or not requirement.specifier.contains(have[0], prereleases=True):
                unmet.append(f"{name} needs {requirement} (the layer has {have[0] if have else 'none'})")
    return unmet


def test_the_streaming_functions_packages_are_pinned_at_the_projects_constraints() -> None:
    function_pins = pins(REPO / "functions" / "streaming" / "requirements.txt")
    constraints = pins(REPO / "constraints.txt")
    assert function_pins and {k: v for k, v in function_pins.items() if constraints.get(k) != v} == {}
    site = built(TARGET_BUILD) / "StreamingFunction"
    shipped = {canonicalize_name(p.name.split("-")[0]) for p in site.glob("*.dist-info")}
    assert shipped == set(function_pins)  # uvicorn's own dependencies are pinned too, none picked by pip


def test_the_layer_keeps_botocore_data_for_every_service_the_code_calls() -> None:
    """shared/Makefile keeps botocore's data only for BOTOCORE_SERVICES (a cold start lists every service folder
    and parses endpoints.json): every service routeway makes a client for is kept (another would fail in Lambda
    only, not in the tests' venv), and both built layers hold exactly the kept folders and endpoints."""
    makefile = (REPO / "shared" / "Makefile").read_text(encoding="utf-8")
    listed = re.search(r"^BOTOCORE_SERVICES := (.+)$", makefile, re.M)
    assert listed is not None
    kept = set(listed.group(1).split())
    called = set()
    for path in (REPO / "shared" / "routeway").rglob("*.py"):
        called |= {a or b for a, b in CLIENT_CALL.findall(path.read_text(encoding="utf-8"))}
    assert called >= {"dynamodb", "s3", "ssm", "events", "bedrock", "bedrock-runtime"}  # the scan sees them all
    assert called - kept == set()
    for build in (TARGET_BUILD, HOST_BUILD):
        data = built(build) / "RoutingLayer" / "python" / "botocore" / "data"
        assert {p.name for p in data.iterdir() if p.is_dir()} == kept, build
        partitions = json.loads((data / "endpoints.json").read_text(encoding="utf-8"))["partitions"]
        listed = set().union(*(p["services"] for p in partitions))  # newer services have no entry at all
        assert {"dynamodb", "s3", "ssm"} <= listed <= kept, build
