"""Write docs/configuration.md from tachigo/settings.py, so the list stays true.

Run: .venv/bin/python scripts/gen_config_doc.py
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from tachigo.settings import Settings

HEADER = """# Configuration

Every setting is an environment variable with the `TACHIGO_` prefix; nested groups use
`__` (for example `TACHIGO_KAFKA__BOOTSTRAP_SERVERS`). Durations and sizes carry their
unit
in the name. Secrets have development defaults that `TACHIGO_ENV=production`
refuses.
This file is generated from `tachigo/settings.py` by `scripts/gen_config_doc.py`.

| variable | default |
|---|---|
"""
_SECRET_WORDS = ("secret", "password", "dsn", "admin_token")


def rows(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += rows(annotation, f"{prefix}{name.upper()}__")
            continue
        if field.default_factory is not None:
            default: object = field.default_factory()  # type: ignore[call-arg]
        else:
            default = field.default
        if any(word in name for word in _SECRET_WORDS):
            default = "(development default; set your own)"
        out.append(f"| `{prefix}{name.upper()}` | `{default}` |")
    return out


def main() -> None:
    text = HEADER + "\n".join(rows(Settings, "TACHIGO_")) + "\n"
    Path(__file__).resolve().parents[1].joinpath("docs/configuration.md").write_text(
        text
    )


if __name__ == "__main__":
    main()
