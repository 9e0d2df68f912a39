"""MNIST test digits redrawn the way people draw with a mouse: a robustness set.

MNIST digits are pen strokes of varying width, already size-normalised and
centred. Canvas drawings are thick uniform strokes at any size, anywhere,
slanted, in one of several colour schemes. To measure how a model copes, each
digit is thinned to its skeleton and re-stroked with a round brush under a
random size, position, slant and brush width, then rendered in a user's form.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

FORMS = ("white-on-black", "black-on-transparent", "dark-on-white")
UPSAMPLE = 3  # thin at 3x MNIST resolution: smoother skeletons than at 28x28
BRUSH_WIDTHS = (8.0, 28.0)  # pixels on a 280-pixel canvas
HEIGHT_FRACTIONS = (0.3, 0.9)  # digit height as a fraction of the canvas
MAX_SLANT_DEGREES = 15.0
SPUR_LENGTH = 5  # branches up to this many skeleton pixels (at UPSAMPLE x) are thinning debris
ASPECT_JITTER = 0.1  # people draw digits a little wider or narrower
PAPER, PEN = 245.0, 30.0  # grey levels of "dark-on-white"

# Zhang-Suen neighbour order P2..P9: north, then clockwise.
_RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
# Half of the 8-neighbourhood, so each skeleton edge is found once.
_FORWARD = ((0, 1), (1, -1), (1, 0), (1, 1))


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning (1984), vectorised: a binary shape -> its 1-pixel-wide skeleton."""
    padded = np.pad(np.asarray(mask, dtype=bool), 1)
    height, width = padded.shape
    centre = padded[1:-1, 1:-1]  # a view: removals write through to `padded`
    changed = True
    while changed:
        changed = False
        for first_pass in (True, False):
            p = [padded[1 + dy : height - 1 + dy, 1 + dx : width - 1 + dx] for dy, dx in _RING]
            neighbours = np.sum(p, axis=0, dtype=np.uint8)
            transitions = np.sum([~p[i] & p[(i + 1) % 8] for i in range(8)], axis=0, dtype=np.uint8)
            if first_pass:
                keep_corner = ~(p[0] & p[2] & p[4]) & ~(p[2] & p[4] & p[6])
            else:
                keep_corner = ~(p[0] & p[2] & p[6]) & ~(p[0] & p[4] & p[6])
            remove = centre & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & keep_corner
            if remove.any():
                centre &= ~remove
                changed = True
    return centre.copy()


def digit_skeleton(digit28: np.ndarray) -> np.ndarray:
    """MNIST 28x28 uint8 digit -> skeleton (bool) at UPSAMPLE x resolution."""
    smooth = ndimage.zoom(np.asarray(digit28, dtype=np.float32) / 255, UPSAMPLE, order=1)
    return thin(smooth >= 0.4)


def skeleton_graph(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton pixels as points (n, 2) of (row, col) and edges (m, 2) of point indices.

    Edges join 8-neighbours; a diagonal is skipped where a corner pixel already
    joins the pair, so staircases do not turn into triangles.
    """
    rows, cols = np.nonzero(skeleton)
    index = np.full(np.add(skeleton.shape, 2), -1, dtype=np.intp)
    index[rows + 1, cols + 1] = np.arange(len(rows))
    edges = []
    for dy, dx in _FORWARD:
        other = index[rows + 1 + dy, cols + 1 + dx]
        linked = other >= 0
        if dy and dx:
            linked &= (index[rows + 1 + dy, cols + 1] < 0) & (index[rows + 1, cols + 1 + dx] < 0)
        edges.append(np.stack([np.flatnonzero(linked), other[linked]], axis=1))
    points = np.stack([rows, cols], axis=1).astype(np.float64)
    return points, np.concatenate(edges)


def prune_spurs(points: np.ndarray, edges: np.ndarray, max_length: int = SPUR_LENGTH):
    """Drop short branches from an end to a junction: thinning leaves them on thick corners."""
    neighbours = [[] for _ in range(len(points))]
    for a, b in edges.tolist():
        neighbours[a].append(b)
        neighbours[b].append(a)
    removed = np.zeros(len(points), dtype=bool)
    for start in (i for i, near in enumerate(neighbours) if len(near) == 1):
        path, previous, current = [start], -1, start
        while len(path) <= max_length:
            previous, current = current, next(n for n in neighbours[current] if n != previous)
            if len(neighbours[current]) >= 3:  # reached a junction: the walked path is a spur
                removed[path] = True
                break
            if len(neighbours[current]) != 2:  # a short stroke on its own: keep it
                break
            path.append(current)
    kept_edges = edges[~removed[edges].any(axis=1)]
    new_index = np.cumsum(~removed) - 1
    return points[~removed], new_index[kept_edges]


def smooth_skeleton(points: np.ndarray, edges: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Average each point with its neighbours (ends stay put): irons out the pixel staircase."""
    degree = np.bincount(edges.ravel(), minlength=len(points))
    ends = degree <= 1
    for _ in range(iterations):
        total = points.copy()
        np.add.at(total, edges[:, 0], points[edges[:, 1]])
        np.add.at(total, edges[:, 1], points[edges[:, 0]])
        smoothed = total / (degree + 1)[:, None]
        smoothed[ends] = points[ends]
        points = smoothed
    return points


def _brush(segments: np.ndarray, shape: tuple[int, int], radius: float) -> np.ndarray:
    """Anti-aliased round brush along line segments: ink where the distance to them is under radius.

    Segments are sampled every half pixel; each hit pixel remembers its sample's
    exact position, so the distance transform gives sub-pixel smooth edges.
    """
    lengths = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
    samples = int(np.ceil(2 * lengths.max(initial=0))) + 2
    t = np.linspace(0, 1, samples)[None, :, None]
    exact = (segments[:, :1] + t * (segments[:, 1:] - segments[:, :1])).reshape(-1, 2)
    rows, cols = np.rint(exact).astype(np.intp).T
    rows, cols = rows.clip(0, shape[0] - 1), cols.clip(0, shape[1] - 1)
    hit = np.ones(shape, dtype=bool)
    hit[rows, cols] = False
    where = np.zeros(shape + (2,))
    where[rows, cols] = exact
    nearest_rows, nearest_cols = ndimage.distance_transform_edt(hit, return_distances=False, return_indices=True)
    grid_rows, grid_cols = np.indices(shape)
    nearest = where[nearest_rows, nearest_cols]
    distance = np.hypot(grid_rows - nearest[..., 0], grid_cols - nearest[..., 1])
    return np.clip(radius + 0.5 - distance, 0, 1).astype(np.float32)


def redraw_as_strokes(digit28: np.ndarray, rng: np.random.Generator, canvas: int = 280) -> np.ndarray:
    """MNIST 28x28 uint8 digit -> canvas x canvas float32 ink map in [0,1] (1=ink).

    The skeleton is re-stroked with a round, anti-aliased brush 8-28 px wide (at
    280 px), the digit 30%-90% of the canvas tall, slanted up to 15 degrees,
    placed at random but wholly inside the canvas.
    """
    points, edges = prune_spurs(*skeleton_graph(digit_skeleton(digit28)))
    if len(points) == 0:
        raise ValueError("The digit has no ink to redraw.")
    points = smooth_skeleton(points, edges)
    lone = np.arange(len(points))  # zero-length segments keep isolated dots
    segments = points[np.concatenate([edges, np.stack([lone, lone], axis=1)])]
    unit = canvas / 280
    brush = rng.uniform(*BRUSH_WIDTHS) * unit
    height = rng.uniform(*HEIGHT_FRACTIONS) * canvas
    slant = np.tan(np.radians(rng.uniform(-MAX_SLANT_DEGREES, MAX_SLANT_DEGREES)))
    aspect = rng.uniform(1 - ASPECT_JITTER, 1 + ASPECT_JITTER)

    rows, cols = segments[..., 0], segments[..., 1]
    rows = rows - (rows.min() + rows.max()) / 2
    cols = (cols - (cols.min() + cols.max()) / 2) * aspect - slant * rows  # lean right when slant > 0
    room = canvas - brush - 4  # the brush and an anti-aliased pixel either side must fit
    scale = (height - brush) / max(np.ptp(rows), 1.0)
    scale = min(scale, room / max(np.ptp(rows), 1e-6), room / max(np.ptp(cols), 1e-6))
    rows, cols = rows * scale, cols * scale

    margin = brush / 2 + 2
    top = margin - rows.min() + rng.uniform(0, max(room - np.ptp(rows), 0))
    left = margin - cols.min() + rng.uniform(0, max(room - np.ptp(cols), 0))
    placed = np.stack([rows + top, cols + left], axis=-1)

    # Brush the skeleton only inside its bounding window: the distance transform is the costly step.
    low = np.floor(placed.reshape(-1, 2).min(axis=0) - margin).astype(int).clip(0, canvas)
    high = np.ceil(placed.reshape(-1, 2).max(axis=0) + margin).astype(int).clip(0, canvas)
    ink = np.zeros((canvas, canvas), dtype=np.float32)
    ink[low[0] : high[0], low[1] : high[1]] = _brush(placed - low, tuple(high - low), brush / 2)
    return ink


def render_form(ink: np.ndarray, form: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Ink map -> the uint8 image a user would produce in `form` (one of FORMS).

    "white-on-black": RGBA, opaque black with white ink; "black-on-transparent":
    RGBA, black ink whose alpha is the ink; "dark-on-white": RGB, dark grey ink
    on off-white paper, with slight paper noise when an rng is given.
    """
    level = np.rint(np.clip(ink, 0, 1) * 255).astype(np.uint8)
    height, width = level.shape
    if form == "white-on-black":
        image = np.empty((height, width, 4), np.uint8)
        image[..., :3] = level[..., None]
        image[..., 3] = 255
        return image
    if form == "black-on-transparent":
        image = np.zeros((height, width, 4), np.uint8)
        image[..., 3] = level
        return image
    if form == "dark-on-white":
        gray = PAPER + (PEN - PAPER) * np.clip(ink, 0, 1)
        if rng is not None:
            gray = gray + rng.normal(0, 2.0, size=gray.shape)
        gray = np.rint(np.clip(gray, 0, 255)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    raise ValueError(f"Unknown form {form!r}; expected one of {FORMS}.")


def robustness_set(
    x: np.ndarray, y: np.ndarray, n: int, seed: int = 0, canvas: int = 280
) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """n redrawn digits picked at random from (x, y), cycling through FORMS, on canvas x canvas pixels.

    Deterministic for a seed; returns (images, labels, forms).
    """
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(x), size=n, replace=n > len(x))
    images, forms = [], []
    for i, index in enumerate(picks):
        form = FORMS[i % len(FORMS)]
        images.append(render_form(redraw_as_strokes(x[index], rng, canvas), form, rng))
        forms.append(form)
    return images, np.asarray(y)[picks], forms
