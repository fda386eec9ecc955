"""Input data: image decoding (imaging), safe ZIP extraction (archives), the data-set layout (dataset)."""

from cam_core.data.archives import safe_extract_zip
from cam_core.data.dataset import (
    MANIFEST_FILE,
    MASK_SUFFIXES,
    MASKS_FOLDER,
    NOTE_HIDDEN,
    NOTE_LOOSE_IMAGE,
    NOTE_MASKS,
    NOTE_NON_IMAGE,
    ClassFolderSummary,
    MaskMatch,
    SkipNote,
    class_folders,
    find_class_folders,
    find_masks_folder,
    folder_masks,
    image_stem,
    is_masks_folder,
    list_images,
    manifest_columns,
    mask_for,
    mask_stems,
    match_masks,
    read_manifest,
    relative_name,
)
from cam_core.data.imaging import (
    IMAGE_EXTENSIONS,
    LoadedImage,
    is_hidden_name,
    iter_image_files,
    load_image,
    printable_text,
    sanitize_filename,
)

__all__ = [
    "IMAGE_EXTENSIONS", "MANIFEST_FILE", "MASKS_FOLDER", "MASK_SUFFIXES", "NOTE_HIDDEN", "NOTE_LOOSE_IMAGE",
    "NOTE_MASKS", "NOTE_NON_IMAGE", "ClassFolderSummary", "LoadedImage", "MaskMatch", "SkipNote", "class_folders",
    "find_class_folders", "find_masks_folder", "folder_masks", "image_stem", "is_hidden_name", "is_masks_folder",
    "iter_image_files", "list_images", "load_image", "manifest_columns", "mask_for", "mask_stems", "match_masks",
    "printable_text", "read_manifest", "relative_name", "safe_extract_zip", "sanitize_filename",
]
