"""app_ui.masks: uploaded defect masks reach the right image (the data set's naming rule), with one clear
warning per mask that cannot be used, and a built-in sample keeps its own mask unless an upload replaces it."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

import app_ui


@dataclass
class Upload:
    """What Streamlit's file uploader hands over: a name and the bytes."""

    name: str
    data: bytes

    def getvalue(self) -> bytes:
        return self.data


def mask_png(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    width, height = size
    values = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    values[y0:y1, x0:x1] = 255
    buffer = io.BytesIO()
    Image.fromarray(values, "L").save(buffer, "PNG")
    return buffer.getvalue()


def image(name: str, size: tuple[int, int] = (40, 30), mask: app_ui.DefectMask | None = None) -> app_ui.InputImage:
    return app_ui.InputImage(name=name, digest=f"test:{name}", image=Image.new("RGB", size), mask=mask)


def test_each_image_gets_the_first_matching_mask_and_every_other_mask_is_named_in_a_warning() -> None:
    items = [image("part7.jpg"), image("part8.jpg")]
    uploads = [Upload("part7.png", mask_png((40, 30), (5, 5, 10, 10))),
               Upload("Part7_MASK.png", mask_png((40, 30), (20, 20, 30, 25))),
               Upload("bolt3.png", mask_png((40, 30), (0, 0, 1, 1)))]
    out, warnings = app_ui.attach_masks(items, uploads)
    first, second = out
    assert first.mask is not None and first.mask.source == "part7.png"
    assert first.mask.mask[5:10, 5:10].all() and first.mask.mask.sum() == 25      # the exact-stem mask, not the other
    assert second.mask is None and second is items[1]                             # untouched: same object back
    assert warnings == [
        "Defect mask Part7_MASK.png ignored: part7.jpg already has the mask part7.png.",
        "Defect mask bolt3.png matches no image: name it like its image (part7.png or part7_mask.png for part7.jpg).",
    ]


def test_a_mask_of_another_size_is_resized_with_a_note_and_an_unreadable_one_is_left_out() -> None:
    items = [image("part7.jpg", size=(40, 30)), image("part9.jpg")]
    uploads = [Upload("part7_mask.png", mask_png((80, 60), (0, 0, 40, 30))),     # top-left quarter at twice the size
               Upload("part9-gt.png", b"not an image at all")]
    out, warnings = app_ui.attach_masks(items, uploads)
    fitted = out[0].mask
    assert fitted is not None and fitted.mask.shape == (30, 40)
    assert fitted.mask[:15, :20].all() and not fitted.mask[15:, :].any() and not fitted.mask[:, 20:].any()
    assert any("resized" in note for note in fitted.notes)
    assert out[1].mask is None
    assert len(warnings) == 1 and warnings[0].startswith("Defect mask ") and "part9-gt.png" in warnings[0]
    assert warnings[0].endswith("part9.jpg is explained without a mask.")


def test_a_sample_keeps_its_own_mask_and_an_earlier_upload_is_dropped() -> None:
    own = app_ui.DefectMask(mask=np.ones((30, 40), bool), source=app_ui.SAMPLE_MASK_SOURCE, key="sample")
    earlier = app_ui.DefectMask(mask=np.ones((30, 40), bool), source="part7.png", key="upload:old")
    sample, uploaded = image("ng-sample.png", mask=own), image("part7.jpg", mask=earlier)
    out, warnings = app_ui.attach_masks([sample, uploaded], [])
    assert warnings == []
    assert out[0].mask is own                         # the built-in sample's mask stays
    assert out[1].mask is None                        # the mask upload was removed: so is its outline
    replaced, _ = app_ui.attach_masks([sample], [Upload("ng-sample_mask.png", mask_png((40, 30), (1, 1, 3, 3)))])
    assert replaced[0].mask is not None and replaced[0].mask.source == "ng-sample_mask.png"
