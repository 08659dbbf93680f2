"""Business modules, one package each (``layers/sites/``, ``layers/standard_sites/`` …), discovered by
``geo.modules``: adding a module is adding a folder here. A ``layers`` package elsewhere on ``sys.path`` adds its
modules too (a pkgutil-style namespace), e.g. a module shipped in a separate distribution, or a test's."""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
