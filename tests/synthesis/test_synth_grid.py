"""Captioned image grids and atomic image writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from promptlearn.errors import InputError
from promptlearn.synthesis.grid import make_grid, save_image


def _tiles(n, size=32):
    return [Image.new("RGB", (size, size), (40 * i, 100, 200)) for i in range(n)]


def test_grid_layout_and_captions_under_each_tile():
    grid = make_grid(_tiles(6), [f"method {i}" for i in range(6)], columns=3, padding=4, min_cell_width=32)
    assert grid.width == 3 * (32 + 4) + 4
    pixels = np.asarray(grid)
    tile_bottom = 4 + 32
    caption_band = pixels[tile_bottom : tile_bottom + 16, 4 : 4 + 32]
    assert (caption_band < 128).any()  # dark caption text under the first tile
    assert grid.height > 2 * (32 + 4)  # two rows plus caption space
    assert tuple(pixels[10, 10]) == (0, 100, 200)  # first tile pasted top-left


def test_grid_without_captions_and_with_resizing():
    grid = make_grid(_tiles(2, size=8), tile_size=40, padding=0, min_cell_width=0)
    assert grid.size == (80, 40)


def test_long_captions_wrap_and_small_tiles_get_readable_cells():
    grid = make_grid(_tiles(2, size=16), ["a rather long caption that must wrap over lines", "short"])
    assert grid.width >= 2 * 128
    one_line = make_grid(_tiles(2, size=16), ["x", "y"])
    assert grid.height > one_line.height


def test_grid_errors():
    with pytest.raises(InputError, match="at least one image"):
        make_grid([])
    with pytest.raises(InputError, match="2 captions for 3 images"):
        make_grid(_tiles(3), ["a", "b"])
    with pytest.raises(InputError, match="columns must be >= 1"):
        make_grid(_tiles(1), columns=0)


def test_save_image_is_atomic_and_checks_the_suffix(tmp_path):
    path = save_image(_tiles(1)[0], tmp_path / "sub" / "out.png")
    assert Image.open(path).size == (32, 32)
    save_image(_tiles(1)[0], tmp_path / "out.jpg")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left
    with pytest.raises(InputError, match="unknown image format '.txt'"):
        save_image(_tiles(1)[0], tmp_path / "out.txt")
