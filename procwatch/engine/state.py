"""What the user chose in the TUI (theme, sort, interval, kernel threads, folded subtrees), remembered in
`$XDG_STATE_HOME/procwatch/state.json` (fallback `~/.local/state`), apart from the config file, which procwatch never
writes. The file is procwatch's own: a damaged one is set aside (renamed) with a notice and procwatch starts from
its defaults; a write is atomic (a temporary file in the same folder, then rename), so a crash leaves the old file or
the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
FORMAT = 1  # bumped if the meaning of a key changes; another number is set aside like a damaged file
MAX_COLLAPSED = 500  # folded subtrees remembered (by command line): a bound, the file stays small


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_STATE_HOME") or ""
    # The XDG spec: a relative path is invalid and must be ignored.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "procwatch"


class StateFile:
    """Load and save the remembered choices: a flat JSON object of setting keys (as in config.toml) and
    `collapsed` (a list of command lines)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else state_dir() / STATE_FILE

    def load(self) -> tuple[dict[str, Any], str | None]:
        """(the remembered values, a notice for the user or None). Never raises: a state file is not worth
        refusing to start for."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}, None
        except (OSError, UnicodeDecodeError) as error:
            return {}, self.set_aside(_reason(error))
        try:
            data = json.loads(text)
        except ValueError as error:
            return {}, self.set_aside(f"not JSON ({error})")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return {}, self.set_aside("not a procwatch state file of this version")
        data.pop("format")
        return data, None

    def set_aside(self, reason: str) -> str:
        """Rename a damaged state file out of the way (kept for a look, never read again) and say so."""
        from procwatch.engine import words  # here, not at import: --once reads no state and says nothing

        aside = self.path.with_name(f"{self.path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, aside)
        except OSError as error:
            return words.state_unusable(str(self.path), reason, None, _reason(error))
        return words.state_unusable(str(self.path), reason, str(aside), None)

    def save(self, values: Mapping[str, Any]) -> str | None:
        """Write atomically; a notice when it cannot be written (read-only home, full disk), else None."""
        import tempfile  # here, not at import: --once and --check never write state (3 ms of start-up)

        data = {"format": FORMAT, **values}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, indent=1, sort_keys=True)
                    out.write("\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as error:
            from procwatch.engine import words

            return words.state_not_saved(str(self.path), _reason(error))
        return None


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)
