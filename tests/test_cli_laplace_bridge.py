"""``relaxit laplace-bridge`` writes a three-panel PNG of densities on the 2-simplex."""

import struct

import pytest

from relaxit.cli import main


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def test_writes_a_nontrivial_png(tmp_path, capsys):
    out = tmp_path / "figs" / "bridge.png"
    assert (
        main(
            ["laplace-bridge", "--concentration", "2,3,5", "--out", str(out), "--resolution", "40"]
        )
        == 0
    )
    width, height = _png_size(out)
    assert width > 2 * height > 400  # three panels side by side
    assert out.stat().st_size > 20_000  # filled contours, not a blank canvas
    assert str(out) in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["2,3", "2,-1,5", "a,b,c"])
def test_bad_concentration_is_a_clear_error(tmp_path, capsys, bad):
    out = tmp_path / "x.png"
    assert main(["laplace-bridge", "--concentration", bad, "--out", str(out)]) == 2
    assert "--concentration" in capsys.readouterr().err
    assert not out.exists()
