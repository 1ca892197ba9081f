"""The instance-label demo (`stackseg synth --labels`): nuclei-like bright blobs on a dark,
noisy background, and their masks as instance-label images (uint16: 0 = background, one id
per nucleus, the same id in every frame of a stack, as a tracking tool would write them).

Nuclei come in clusters of one, two or three that drift together; the nuclei of a cluster
overlap by 5-20 % of their radii, so every stack has touching objects. A pixel inside two
nuclei goes to the one whose outline is farther away, relative to its size (the smaller
normalised ellipse radius): the split a watershed on the distance transform would make.
Where two nuclei meet the intensity dips by a third (the seam between two real nuclei), and
each nucleus has its own brightness. All integer arithmetic, as the rest of synth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stackseg.synth.fixedpoint import SUB, TRIG_STEPS, cos_sin, wave
from stackseg.synth.render import SHADE_ONE, Look, make_look
from stackseg.synth.scene import TEXTURE_ONE, Frame, bounce, size_scale

Q_ONE = 1 << 16  # normalised ellipse radius squared: inside when <= Q_ONE
SEAM = 2  # intensity kept where two nuclei touch: SEAM / 3


@dataclass
class Nucleus:
    ident: int  # the id in the label images
    dx: int  # offset from the cluster's centre, SUB units
    dy: int
    a: int  # semi-axes, SUB units
    b: int
    angle: int  # table steps
    spin: int
    phase: int
    omega: int
    wobble: int  # 1/1024 of the semi-axes
    contrast: int  # camera units


@dataclass
class Cluster:
    x: int  # centre, SUB units
    y: int
    vx: int = 0
    vy: int = 0
    members: list[Nucleus] = field(default_factory=list)

    def reach(self) -> int:
        """Distance from the centre (SUB units) beyond which no member draws."""
        return max(
            abs(n.dx) + abs(n.dy) + max(n.a, n.b) * (1024 + n.wobble) // 1024 + SUB
            for n in self.members
        )


def dark_look(rng: np.random.Generator, height: int, width: int) -> Look:
    """Fluorescence-like conditions: a dark background, mild shading, the camera's noise."""
    look = make_look(rng, height, width)
    look.level = 16 * int(rng.integers(6, 16))
    look.shading = (SHADE_ONE + (look.shading - SHADE_ONE) // 3).astype(np.int32)
    look.canvas = look.canvas // 3
    return look


def _nucleus(rng: np.random.Generator, ident: int, radius: int) -> Nucleus:
    return Nucleus(
        ident=ident,
        dx=0,
        dy=0,
        a=radius,
        b=radius * int(rng.integers(700, 1001)) // 1000,
        angle=int(rng.integers(TRIG_STEPS)),
        spin=int(rng.integers(-3, 4)),
        phase=int(rng.integers(TRIG_STEPS)),
        omega=int(rng.integers(8, 25)),
        wobble=int(rng.integers(30, 90)),
        contrast=16 * int(rng.integers(45, 110)),
    )


def make_clusters(rng: np.random.Generator, height: int, width: int) -> list[Cluster]:
    """The nuclei of a stack, in clusters placed apart from each other."""
    scale = size_scale(height, width)
    count = max(2, int(rng.integers(5, 9)) * height * width // (96 * 96))
    clusters: list[Cluster] = []
    ident = 0
    for _ in range(count):
        size = int(rng.choice([1, 1, 2, 2, 3]))
        cluster = Cluster(x=0, y=0)
        for k in range(size):
            ident += 1
            radius = int(rng.integers(5 * SUB, 8 * SUB + 1)) * scale // 1024
            nucleus = _nucleus(rng, ident, radius)
            if k:  # beside an earlier member, overlapping it by 5-20 % of the radii
                anchor = cluster.members[int(rng.integers(k))]
                cos_t, sin_t = cos_sin(int(rng.integers(TRIG_STEPS)))
                gap = (anchor.a + nucleus.a) * int(rng.integers(800, 951)) // 1000
                nucleus.dx = anchor.dx + gap * cos_t // 1024
                nucleus.dy = anchor.dy + gap * sin_t // 1024
            cluster.members.append(nucleus)
        speed = int(rng.integers(2, 8))
        vx, vy = cos_sin(int(rng.integers(TRIG_STEPS)))
        cluster.vx, cluster.vy = speed * vx // 1024, speed * vy // 1024
        clusters.append(cluster)
    placed: list[Cluster] = []
    for cluster in clusters:
        reach = cluster.reach()
        for _attempt in range(40):
            cluster.x = int(rng.integers(reach // 2, max(width * SUB - reach // 2, reach // 2 + 1)))
            cluster.y = int(
                rng.integers(reach // 2, max(height * SUB - reach // 2, reach // 2 + 1))
            )
            if all(_apart(cluster, other) for other in placed):
                break
        placed.append(cluster)
    return placed


def _apart(one: Cluster, other: Cluster) -> bool:
    gap = one.reach() + other.reach()
    return (one.x - other.x) ** 2 + (one.y - other.y) ** 2 >= gap * gap


def advance(rng: np.random.Generator, clusters: list[Cluster], height: int, width: int) -> None:
    """One frame: clusters random-walk and bounce off the edges; nuclei turn and wobble."""
    kicks = rng.integers(-1, 2, size=(len(clusters), 2))
    limit = 8  # SUB units per frame: half a pixel
    for cluster, (kx, ky) in zip(clusters, kicks.tolist(), strict=True):
        margin = cluster.reach() // 2
        cluster.vx = min(max(cluster.vx + kx, -limit), limit)
        cluster.vy = min(max(cluster.vy + ky, -limit), limit)
        cluster.x, cluster.vx = bounce(cluster.x + cluster.vx, cluster.vx, margin, width * SUB)
        cluster.y, cluster.vy = bounce(cluster.y + cluster.vy, cluster.vy, margin, height * SUB)
        for nucleus in cluster.members:
            nucleus.angle += nucleus.spin
            nucleus.phase += nucleus.omega


def rasterise(
    clusters: list[Cluster], height: int, width: int, texture: np.ndarray
) -> tuple[np.ndarray, Frame]:
    """(uint16 label image, intensity Frame) of one frame."""
    ids = np.zeros((height, width), dtype=np.uint16)
    nearest = np.full((height, width), Q_ONE + 1, dtype=np.int64)
    layer = np.zeros((height, width), dtype=np.int32)
    tile = texture.shape[0]
    for cluster in clusters:
        for n in cluster.members:
            x, y = cluster.x + n.dx, cluster.y + n.dy
            reach = max(n.a, n.b) * (1024 + n.wobble) // 1024 + SUB
            x0, x1 = max((x - reach) // SUB, 0), min((x + reach) // SUB + 1, width)
            y0, y1 = max((y - reach) // SUB, 0), min((y + reach) // SUB + 1, height)
            if x0 >= x1 or y0 >= y1:
                continue  # drifted out of the frame: absent from this frame's labels
            xs = np.arange(x0, x1, dtype=np.int64)
            ys = np.arange(y0, y1, dtype=np.int64)
            q = _radius2(n, (xs * SUB + SUB // 2 - x)[None, :], (ys * SUB + SUB // 2 - y)[:, None])
            window = nearest[y0:y1, x0:x1]
            wins = q < window  # inside (q <= Q_ONE) and nearer than any earlier nucleus
            window[wins] = q[wins]
            ids[y0:y1, x0:x1][wins] = n.ident
            grain = texture[np.ix_((ys - y // SUB) % tile, (xs - x // SUB) % tile)]
            value = n.contrast * (TEXTURE_ONE + grain * 2 // 5) // TEXTURE_ONE
            layer[y0:y1, x0:x1][wins] = value[wins]
    layer = np.where(_touching(ids), layer * SEAM // 3, layer).astype(np.int32)
    empty = np.zeros((height, width), dtype=np.int32)
    frame = Frame(masks=(ids != 0)[..., None].view(np.uint8), layers=layer[None], debris=empty)
    return ids, frame


def _radius2(n: Nucleus, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Normalised squared ellipse radius (Q_ONE on the outline) of the offsets; values above
    Q_ONE (outside) are Q_ONE + 1, which never wins a pixel."""
    cos_t, sin_t = cos_sin(n.angle)
    stretch = wave(n.phase, n.a * n.wobble // 1024)
    a = max(n.a + stretch, SUB)
    b = max(n.b - stretch * n.b // max(n.a, 1), SUB)
    u = (dx * cos_t + dy * sin_t) // 1024
    v = (dy * cos_t - dx * sin_t) // 1024
    q = (u * u * (b * b) + v * v * (a * a)) * Q_ONE // (a * a * b * b)
    return np.where(q <= Q_ONE, q, Q_ONE + 1)


def _touching(ids: np.ndarray) -> np.ndarray:
    """Object pixels with a 4-neighbour of another object (not background)."""
    seam = np.zeros(ids.shape, dtype=bool)
    for axis in (0, 1):
        a = ids[1:, :] if axis == 0 else ids[:, 1:]
        b = ids[:-1, :] if axis == 0 else ids[:, :-1]
        meet = (a != b) & (a != 0) & (b != 0)
        if axis == 0:
            seam[1:, :] |= meet
            seam[:-1, :] |= meet
        else:
            seam[:, 1:] |= meet
            seam[:, :-1] |= meet
    return seam
