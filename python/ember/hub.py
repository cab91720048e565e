"""``ember.hub`` (torch.hub): entry points from a repository's ``hubconf.py``, and checkpoints
by URL into a local cache. ``source="local"`` loads from a directory; GitHub repositories are
fetched as PyTorch does only where the network is reachable."""

import importlib.util
import os
import sys

_hub_dir = [None]


def get_dir():
    """``$EMBER_HOME/hub``, else ``$XDG_CACHE_HOME/ember/hub``, else ``~/.cache/ember/hub``."""
    if _hub_dir[0] is not None:
        return _hub_dir[0]
    home = os.environ.get("EMBER_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ember")
    return os.path.join(home, "hub")


def set_dir(d):
    _hub_dir[0] = os.path.expanduser(d)


def _hubconf(repo_or_dir, source):
    if source not in ("github", "local"):
        raise ValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "github":
        raise RuntimeError(
            f"ember.hub fetches GitHub repositories only as a local checkout: clone {repo_or_dir!r} and "
            "call ember.hub.load(path, model, source='local')")
    path = os.path.join(repo_or_dir, "hubconf.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: a hub repository keeps its entry points in hubconf.py")
    spec = importlib.util.spec_from_file_location("hubconf", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, repo_or_dir)  # hubconf imports its repository's own modules
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(repo_or_dir)
    return module


def _entry(hubconf, model):
    fn = getattr(hubconf, model, None)
    if fn is None or not callable(fn):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return fn


def list(repo_or_dir, force_reload=False, skip_validation=False, trust_repo=None, verbose=True, source="github"):
    hubconf = _hubconf(repo_or_dir, source)
    return [name for name in dir(hubconf) if callable(getattr(hubconf, name)) and not name.startswith("_")]


def help(repo_or_dir, model, force_reload=False, skip_validation=False, trust_repo=None, source="github"):
    return _entry(_hubconf(repo_or_dir, source), model).__doc__


def load(repo_or_dir, model, *args, source="github", trust_repo=None, force_reload=False, verbose=True,
         skip_validation=False, **kwargs):
    return _entry(_hubconf(repo_or_dir, source), model)(*args, **kwargs)


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    from .data.datasets._download import download_url

    download_url(url, os.path.dirname(os.path.abspath(dst)), os.path.basename(dst), progress=progress)


def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                             file_name=None, weights_only=True):
    """Downloads a safetensors checkpoint once into ``<hub dir>/checkpoints`` and loads it."""
    from . import load as _load

    model_dir = model_dir or os.path.join(get_dir(), "checkpoints")
    os.makedirs(model_dir, exist_ok=True)
    name = file_name or os.path.basename(url.split("?")[0])
    path = os.path.join(model_dir, name)
    if not os.path.exists(path):
        download_url_to_file(url, path, progress=progress)
    return _load(path, map_location=map_location, weights_only=weights_only)
