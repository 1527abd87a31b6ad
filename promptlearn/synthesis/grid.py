"""Side-by-side image grids with a caption under each tile, for comparing methods or seeds."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from ..errors import InputError
from ..files import atomic_write_bytes


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels; a single over-long word is kept on its own line."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and draw.textlength(candidate, font=font) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def make_grid(
    images: Sequence[Image.Image],
    captions: Sequence[str] | None = None,
    *,
    columns: int | None = None,
    tile_size: int | None = None,
    font_size: int = 14,
    padding: int = 6,
    min_cell_width: int = 128,
) -> Image.Image:
    """Arrange ``images`` in rows of ``columns`` tiles (default: one row), each resized to
    ``tile_size`` pixels square if given, with its caption wrapped underneath. Cells are at least
    ``min_cell_width`` pixels wide so that captions of small images stay readable."""
    if not images:
        raise InputError("make_grid needs at least one image")
    if captions is not None and len(captions) != len(images):
        raise InputError(f"make_grid got {len(captions)} captions for {len(images)} images")
    columns = len(images) if columns is None else columns
    if columns < 1:
        raise InputError(f"columns must be >= 1, got {columns}")
    tiles = [image.convert("RGB") for image in images]
    if tile_size is not None:
        tiles = [tile.resize((tile_size, tile_size), Image.Resampling.LANCZOS) for tile in tiles]
    tile_w = max(min_cell_width, max(tile.width for tile in tiles))
    tile_h = max(tile.height for tile in tiles)
    font = ImageFont.load_default(size=font_size)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = [_wrap(scratch, text, font, tile_w) for text in (captions or [""] * len(tiles))]
    line_h = font_size + 4
    caption_h = max(len(lines) for lines in wrapped) * line_h if captions is not None else 0
    rows = -(-len(tiles) // columns)
    cell_w, cell_h = tile_w + padding, tile_h + caption_h + padding
    grid = Image.new("RGB", (columns * cell_w + padding, rows * cell_h + padding), "white")
    draw = ImageDraw.Draw(grid)
    for index, (tile, lines) in enumerate(zip(tiles, wrapped)):
        x = padding + (index % columns) * cell_w
        y = padding + (index // columns) * cell_h
        grid.paste(tile, (x + (tile_w - tile.width) // 2, y))
        for number, line in enumerate(lines):
            text_w = draw.textlength(line, font=font)
            draw.text((x + (tile_w - text_w) / 2, y + tile_h + number * line_h + 2), line, fill="black", font=font)
    return grid


def image_format(path: str | os.PathLike[str]) -> str:
    """The PIL format name for ``path``'s suffix, or :class:`InputError` if it is not an image type."""
    target = Path(path)
    fmt = Image.registered_extensions().get(target.suffix.lower())
    if fmt is None:
        raise InputError(f"{target}: unknown image format {target.suffix or '(no suffix)'!r}; use .png, .jpg or .webp")
    return fmt


def save_image(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write ``image`` atomically; the format follows the suffix (.png, .jpg, .webp, ...)."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format(path))
    return atomic_write_bytes(path, buffer.getvalue())
