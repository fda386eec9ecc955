"""Models page: import a PyTorch state dict (``.pt``/``.pth``/``.ckpt``/``.bin``) or a safetensors state dict.

The same :func:`cam_core.interop.import_weights` as ``python -m cam_core import``: a pickle-based upload is
read only by a limited child process with ``torch.load(weights_only=True)``, never in this server process.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from app_ui.errors import error_line
from cam_core import CamInspectorError
from cam_core.engine import KNOWN_ARCHITECTURES

IMPORTED = "models_imported"   # session: message about the last imported model (shown after the rerun)
DETECT = "detect from the weights"
WEIGHT_TYPES = ["pt", "pth", "ckpt", "bin", "safetensors"]


def _run_import(data: bytes, upload_name: str, classes: str, arch: str | None, name: str, defect: str,
                size: int) -> str:
    """Write the upload to a private temporary folder, import it, and return the success message (Markdown)."""
    from cam_core.interop import import_weights  # loads PyTorch: only when a file is imported

    with tempfile.TemporaryDirectory(prefix="cam-import-upload-") as folder:
        staged = Path(folder) / "upload.bin"
        staged.write_bytes(data)
        result = import_weights(staged, classes, arch=arch, name=name or None, defect_class=defect or None,
                                input_size=size, source_name=upload_name)
    card = result.card
    named = card.get("defect_class") or "none named"
    lines = [f"Imported **{result.name}** ({result.arch_line}; head {card['head_type']}; classes "
             f"{', '.join(card['classes'])}; defect class {named}). Saved to `{result.path}` with its card "
             f"`{result.card_path.name}`; it is now available in every network picker."]
    lines += [f"Note: {note}." for note in result.notes]
    return "  \n".join(lines)


def import_section() -> None:
    """Upload + classes + optional architecture, name, defect class and input size → an imported model."""
    st.write("Import the weights of your own network: a `torch.save(model.state_dict())` file (also with "
             "`module.` keys, or a checkpoint dict holding `state_dict` / `model`), or a safetensors state dict, "
             f"for one of: {', '.join(KNOWN_ARCHITECTURES)}. Pickle-based files are read by a separate, "
             "limited process that accepts only tensors (`weights_only`); anything else in them is refused.")
    message = st.session_state.pop(IMPORTED, None)
    if message:
        st.success(message)
    upload = st.file_uploader("Weights file", type=WEIGHT_TYPES, key="models_import_file")
    if upload is None:
        return
    c1, c2 = st.columns(2)
    classes = c1.text_input("Classes, in the order of the network's outputs", "ok,ng", key="models_import_classes",
                            help="A one-output (sigmoid) head takes two names; the defect class is its positive one.")
    arch = c2.selectbox("Architecture", [DETECT, *KNOWN_ARCHITECTURES], key="models_import_arch")
    c3, c4, c5 = st.columns(3)
    name = c3.text_input("Save as (model name)", Path(upload.name).stem, key="models_import_name")
    defect = c4.text_input("Defect class (optional)", "", key="models_import_defect",
                           help="Default: the class called ng, defect, bad, …")
    size = c5.number_input("Input size (px)", 32, 2048, 224, key="models_import_size")
    if st.button("Import", key="models_import_go", type="primary"):
        try:
            with st.spinner("Reading the weights in a separate process and checking the CAM identity…"):
                st.session_state[IMPORTED] = _run_import(upload.getvalue(), upload.name, classes,
                                                         None if arch == DETECT else arch, name.strip(),
                                                         defect.strip(), int(size))
        except CamInspectorError as exc:
            st.error(error_line(upload.name, exc))
            return
        st.rerun()
