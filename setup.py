"""Builds the `domainsearch` wheel: CMake compiles the pybind11 module `_domainsearch` and libdomainsearch,
and the wheel carries both beside the package's Python files (the module finds the library through its
$ORIGIN run path). Metadata is in pyproject.toml; the version is CMakeLists.txt's.

Environment:
  DOMAINSEARCH_CMAKE_BUILD_DIR  a CMake build folder of yours to reuse as configured (e.g. `build`; configured
                                here only when it has no build system yet): only its module and library are
                                built. Default: build/python-wheel in the source tree, configured on every
                                build (cheap once cached), so CMAKE_ARGS and the Python always apply.
  CMAKE_ARGS                    extra configure arguments, e.g. "-DTorch_DIR=/opt/libtorch/share/cmake/Torch".
  DOMAINSEARCH_BUILD_JOBS       parallel build jobs (default: the CPU count).
"""
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


def project_version() -> str:
    match = re.search(r"project\(domainsearch VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text())
    if not match:
        raise RuntimeError("CMakeLists.txt has no `project(domainsearch VERSION x.y.z`")
    return match.group(1)


def cmake_build_dir() -> pathlib.Path:
    configured = os.environ.get("DOMAINSEARCH_CMAKE_BUILD_DIR")
    return pathlib.Path(configured).resolve() if configured else ROOT / "build" / "python-wheel"


def torch_requirement() -> str:
    """The torch the module is built against, exactly: the module links that LibTorch, and `import
    domainsearch` imports torch first, so another torch would load a second, mismatched LibTorch."""
    try:
        import torch
    except ImportError:  # building without torch importable (e.g. in an isolated build environment)
        return "torch"
    return f"torch=={torch.__version__}"


def run(command: list) -> None:
    print("+", shlex.join(str(part) for part in command), flush=True)
    subprocess.run(command, check=True)


class CMakeExtension(Extension):
    """The extension CMake builds; setuptools only places it (no sources of its own)."""

    def __init__(self, name: str):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        build_dir = cmake_build_dir()
        has_build_system = (build_dir / "build.ninja").exists() or (build_dir / "Makefile").exists()
        if "DOMAINSEARCH_CMAKE_BUILD_DIR" not in os.environ or not has_build_system:
            self.configure(build_dir)
        jobs = os.environ.get("DOMAINSEARCH_BUILD_JOBS", str(os.cpu_count() or 1))
        run(["cmake", "--build", build_dir, "--target", "_domainsearch", "-j", jobs])
        target = pathlib.Path(self.get_ext_fullpath(ext.name)).parent
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as stage:
            # The install step rewrites the run paths for the installed place ($ORIGIN, then LibTorch's).
            run(["cmake", "--install", build_dir, "--component", "python", "--prefix", stage])
            for built in self.built_binaries(pathlib.Path(stage)):
                shutil.copy2(built, target / built.name, follow_symlinks=True)

    @staticmethod
    def configure(build_dir: pathlib.Path) -> None:
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        run(["cmake", "-S", ROOT, "-B", build_dir, *generator, "-DCMAKE_BUILD_TYPE=Release",
             "-DDS_BUILD_TESTS=OFF", "-DDS_BUILD_BENCH=OFF", "-DDS_BUILD_PYTHON=ON",
             f"-DPython_EXECUTABLE={sys.executable}", f"-DPYTHON_EXECUTABLE={sys.executable}",
             *shlex.split(os.environ.get("CMAKE_ARGS", ""))])

    @staticmethod
    def built_binaries(stage: pathlib.Path) -> list:
        """The module and the library (its soname file) the install step staged; refuses a module built
        for another Python than the one building the wheel (a reused build folder configured elsewhere)."""
        package = [p.parent for p in stage.rglob("domainsearch/__init__.py")]
        if len(package) != 1:
            raise RuntimeError(f"the CMake install staged {len(package)} domainsearch packages under {stage}")
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        modules = list(package[0].glob("_domainsearch*.so"))
        if [m.name for m in modules] != ["_domainsearch" + suffix]:
            raise RuntimeError(f"the CMake build folder {cmake_build_dir()} made {[m.name for m in modules]}, "
                               f"not _domainsearch{suffix} for {sys.executable}: configure it with "
                               f"-DPython_EXECUTABLE={sys.executable}, or use another DOMAINSEARCH_CMAKE_BUILD_DIR")
        # The module needs the library by its soname (libdomainsearch.so.MAJOR, a link to the versioned
        # file); a wheel holds no links, so the file is carried under the soname.
        sonames = [p for p in package[0].glob("libdomainsearch.so.*") if p.is_symlink()]
        if len(sonames) != 1:
            raise RuntimeError(f"the CMake install staged {len(sonames)} libdomainsearch sonames under {package[0]}")
        return modules + sonames


setup(version=project_version(),
      install_requires=["numpy>=1.19", torch_requirement()],
      ext_modules=[CMakeExtension("domainsearch._domainsearch")],
      cmdclass={"build_ext": CMakeBuild},
      # setuptools' own scratch folders stay out of the CMake build folders and the source tree.
      options={"build": {"build_base": str(cmake_build_dir() / "setuptools")},
               "egg_info": {"egg_base": str(cmake_build_dir())}})
