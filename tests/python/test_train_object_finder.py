"""tools/train_object_finder.py's contract with the library: the targets put a box's centre, offset and log
size where the decoder (src/objects/object_proposals.cpp, boxes_from_finder) reads them, and the exported
model outputs the centre probability (a sigmoid) and the offsets and log sizes exactly as the head was
trained (raw): an export that transformed them otherwise would move every box. Needs torch; the export
check needs the shared fine-tunable MobileNetV2 (skipped without ../shared)."""
import math
import os
import sys

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import train_object_finder as finder  # noqa: E402

BACKBONE = os.path.join(os.environ.get("DS_SHARED_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")),
                        "models", "mobilenet_v2_1.0_224_trainable.pt")


def test_targets_put_a_box_where_the_decoder_reads_it():
    # A 48 x 80 box at (100, 40) in a 256 x 192 input: centre (124, 80) -> cell (7, 5), offset (0.75, 0).
    heat, regression, mask = finder.targets([(100, 40, 48, 80)], 16, 12, 0)
    assert heat[5, 7] == 1.0 and mask[5, 7] == 1 and mask.sum() == 1
    assert regression[:, 5, 7].tolist() == pytest.approx([0.75, 0.0, math.log(3.0), math.log(5.0)])
    # Mirrored (horizontal flip of a 256-wide input): the box starts at 256 - 100 - 48 = 108.
    _, mirrored, mirrored_mask = finder.targets([(100, 40, 48, 80)], 16, 12, 256)
    assert mirrored_mask[5, 8] == 1 and mirrored[0, 5, 8] == pytest.approx(0.25)


def test_focal_loss_prefers_the_right_centre():
    heat = torch.zeros(1, 4, 4)
    heat[0, 1, 2] = 1.0
    right = torch.full((1, 4, 4), -6.0)
    right[0, 1, 2] = 6.0
    wrong = torch.full((1, 4, 4), -6.0)
    wrong[0, 3, 0] = 6.0
    assert finder.focal_loss(right, heat) < 0.01 < finder.focal_loss(wrong, heat)


@pytest.mark.skipif(not os.path.exists(BACKBONE), reason="no shared MobileNetV2")
def test_the_export_keeps_offsets_and_sizes_as_trained(tmp_path):
    torch.manual_seed(0)
    backbone = torch.jit.load(BACKBONE).eval()
    head = finder.BoxHead().eval()
    finder.export(backbone, head, (128, 96), str(tmp_path))
    exported = torch.jit.load(str(tmp_path / "object_finder.pt"))
    x = torch.rand(1, 3, 96, 128) * 255
    with torch.no_grad():
        raw = head(*finder.frozen_maps(backbone, x))
        out = exported(x)
    assert out.shape == (1, 5, 6, 8)
    assert torch.allclose(out[:, 0], torch.sigmoid(raw[:, 0]), atol=1e-5)
    assert torch.allclose(out[:, 1:], raw[:, 1:], atol=1e-5)
    assert '"objects": 0' in (tmp_path / "object_finder.json").read_text()


@pytest.mark.skipif(not os.path.exists(BACKBONE), reason="no shared MobileNetV2")
def test_a_flip_averaged_finder_answers_a_mirrored_photo_with_the_mirrored_answer(tmp_path):
    torch.manual_seed(1)
    backbone = torch.jit.load(BACKBONE).eval()
    head = finder.BoxHead().eval()
    finder.export(backbone, head, (128, 96), str(tmp_path), flip_average=True)
    exported = torch.jit.load(str(tmp_path / "object_finder.pt"))
    x = torch.rand(1, 3, 96, 128) * 255
    with torch.no_grad():
        out, out_of_mirror = exported(x), exported(torch.flip(x, [3]))
        plain = head(*finder.frozen_maps(backbone, x))
    mirrored_back = torch.flip(out_of_mirror, [3])
    mirrored_back[:, 1] = 1 - mirrored_back[:, 1]  # a centre's x offset inside its cell, seen from the other side
    assert torch.allclose(out, mirrored_back, atol=1e-4)
    assert not torch.allclose(torch.logit(out[:, 0]), plain[:, 0], atol=1e-3)  # it is not the plain finder
    assert "flip-averaged" in (tmp_path / "object_finder.json").read_text()
