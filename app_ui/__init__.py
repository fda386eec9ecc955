"""Streamlit glue of the CAM Inspector app: state, errors, cached models, inputs, widgets, kept results.

Pages stay thin: everything they compute goes through :mod:`cam_core` (the same functions the CLI
uses). This package only adds Streamlit caching, session state and widgets around them:

- :mod:`app_ui.state`: the ``cfg_*`` settings shared by every page, the page menu, the tab icon;
- :mod:`app_ui.errors`: page bodies run guarded (a user error is one line, never a traceback);
- :mod:`app_ui.cache`: process-wide byte-bounded caches of decoded images, screen copies, explanations;
- :mod:`app_ui.models`: the model files, shared thread-safe explainers (``st.cache_resource``), pickers;
- :mod:`app_ui.inputs`, :mod:`app_ui.masks`: uploads, built-in samples, defect masks;
- :mod:`app_ui.widgets`, :mod:`app_ui.drawing`: view controls, verdicts, captions, overlays, figures;
- :mod:`app_ui.batch`: the last explained batch (Report and Compare reuse it) and its downloads;
- :mod:`app_ui.compare`: the Compare page's labelled set and its table of scores;
- :mod:`app_ui.domain`: verdicts on images unlike the training data, greyed with the reason; table cells, flags;
- :mod:`app_ui.video_jobs`, :mod:`app_ui.video_view`: staged videos, runs, background jobs, timeline;
- :mod:`app_ui.training`: the Models page's checkpoint upload and training run;
- :mod:`app_ui.import_model`: the Models page's import of a PyTorch state dict;
- :mod:`app_ui.warmup`: the default network, loaded in the background from server start (imports at the lowest CPU priority).

``import app_ui as ui`` then ``ui.X`` reaches every name below. Names are imported on first use
(:mod:`cam_core.lazy`), so a page draws its heading and controls before PyTorch and the network load. A test
that replaces a function the package itself calls patches it in the module that calls it (e.g.
``app_ui.video_jobs.run_video``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cam_core.lazy import lazy_names

if TYPE_CHECKING:
    from app_ui.batch import (
        LAST_BATCH,
        Batch,
        keep_batch,
        last_batch,
        overlays_zip,
        report_html,
        scores_csv,
        scores_json_bytes,
        verdicts,
    )
    from app_ui.compare import (
        LABELLED_SET,
        SCORE_COLUMNS,
        SCORE_LIMIT,
        LabelledSet,
        NetworkScores,
        labelled_set,
        score_networks,
        scores_key,
        timed_explanation,
    )
    from app_ui.domain import (
        domain_caption,
        domain_cell,
        frames_domain_note,
        gallery_score,
        gallery_verdict,
        score_flags,
    )
    from app_ui.drawing import (
        DISPLAY_MAX_SIDE,
        OUTLINE_WIDTH,
        display_copy,
        encode_jpeg,
        encode_png,
        raw_grid_figure,
        render_maps,
        render_overlays,
    )
    from app_ui.errors import error_line, run_guarded, show_error
    from app_ui.inputs import (
        IMAGE_TYPES,
        SAMPLE_MASK_SOURCE,
        STALE_UPLOAD_HINT,
        DefectMask,
        InputImage,
        decode_image,
        digest_of,
        load_uploads,
        own_input_names,
        sample_image,
        sample_picker,
    )
    from app_ui.masks import (
        attach_masks,
        display_mask,
        mask_scores,
        pointing_lines,
        show_mask_panel,
    )
    from app_ui.models import (
        CAM,
        METHODS,
        NO_MODELS_MESSAGE,
        MapMethod,
        ModelRef,
        engine_label,
        explain_inputs,
        get_explainer,
        method_picker,
        model_card,
        model_names,
        model_picker,
        model_ref,
        shipped_model_names,
        timed_explain,
    )
    from app_ui.picture import (
        colormap_control,
        grid_range,
        grid_values,
        model_scale_of,
        outlined_display,
        show_blended_maps,
    )
    from app_ui.state import (
        APP_PAGES,
        DEFAULTS,
        HOME_PAGE,
        available_pages,
        draw_menu,
        init_state,
        kept_choice,
        page_menu,
        tab_icon,
    )
    from app_ui.training import (
        MODEL_FILE_TYPES,
        TRAIN_DATA,
        TRAIN_RESULT,
        add_checkpoint,
        default_resize,
        forget_train_data,
        history_charts,
        prepare_data,
        show_run_summary,
        target_path,
    )
    from app_ui.video_jobs import (
        SAMPLE_CLIP_NAME,
        VIDEO_JOB,
        VIDEO_RUN,
        VIDEO_THRESHOLD,
        VIDEO_TYPES,
        VideoJob,
        VideoRun,
        VideoSettings,
        VideoSource,
        keep_video_run,
        probe_source,
        run_video,
        sample_clip,
        stage_video,
        start_video_job,
        video_frame,
        video_gif,
        video_job,
        video_report,
        video_run,
    )
    from app_ui.video_view import show_events, timeline_figure, video_info_text, video_progress
    from app_ui.warmup import IMPORT_NICENESS, page_title, start_warm_up, warm_up
    from app_ui.widgets import (
        NORM_LABELS,
        TRAIN_OWN_HINT,
        ViewSettings,
        map_caption,
        model_card_label,
        overlay_controls,
        show_verdict,
        synthetic_model_hint,
        verdict_text,
        view_controls,
    )

_HOMES: dict[str, str] = {
    **dict.fromkeys(("LAST_BATCH", "Batch", "keep_batch", "last_batch", "overlays_zip", "report_html",
                     "scores_csv", "scores_json_bytes", "verdicts"),
                    "app_ui.batch"),
    **dict.fromkeys(("LABELLED_SET", "SCORE_COLUMNS", "SCORE_LIMIT", "LabelledSet", "NetworkScores",
                     "labelled_set", "score_networks", "scores_key", "timed_explanation"),
                    "app_ui.compare"),
    **dict.fromkeys(("domain_caption", "domain_cell", "frames_domain_note", "gallery_score", "gallery_verdict",
                    "score_flags"),
                    "app_ui.domain"),
    **dict.fromkeys(("DISPLAY_MAX_SIDE", "OUTLINE_WIDTH", "display_copy", "encode_jpeg", "encode_png",
                     "raw_grid_figure", "render_maps", "render_overlays"),
                    "app_ui.drawing"),
    **dict.fromkeys(("error_line", "run_guarded", "show_error"), "app_ui.errors"),
    **dict.fromkeys(("IMAGE_TYPES", "SAMPLE_MASK_SOURCE", "STALE_UPLOAD_HINT", "DefectMask", "InputImage",
                     "decode_image", "digest_of", "load_uploads", "own_input_names", "sample_image",
                     "sample_picker"),
                    "app_ui.inputs"),
    **dict.fromkeys(("attach_masks", "display_mask", "mask_scores", "pointing_lines",
                     "show_mask_panel"),
                    "app_ui.masks"),
    **dict.fromkeys(("CAM", "METHODS", "NO_MODELS_MESSAGE", "MapMethod", "ModelRef", "engine_label",
                     "explain_inputs", "get_explainer", "method_picker", "model_card", "model_names",
                     "model_picker", "model_ref", "shipped_model_names", "timed_explain"),
                    "app_ui.models"),
    **dict.fromkeys(("colormap_control", "grid_range", "grid_values", "model_scale_of", "outlined_display",
                     "show_blended_maps"),
                    "app_ui.picture"),
    **dict.fromkeys(("APP_PAGES", "DEFAULTS", "HOME_PAGE", "available_pages", "draw_menu", "init_state",
                     "kept_choice", "page_menu", "tab_icon"),
                    "app_ui.state"),
    **dict.fromkeys(("MODEL_FILE_TYPES", "TRAIN_DATA", "TRAIN_RESULT", "add_checkpoint",
                     "default_resize", "forget_train_data", "history_charts", "prepare_data",
                     "show_run_summary", "target_path"),
                    "app_ui.training"),
    **dict.fromkeys(("SAMPLE_CLIP_NAME", "VIDEO_JOB", "VIDEO_RUN", "VIDEO_THRESHOLD", "VIDEO_TYPES",
                     "VideoJob", "VideoRun", "VideoSettings", "VideoSource", "keep_video_run", "probe_source",
                     "run_video", "sample_clip", "stage_video", "start_video_job", "video_frame", "video_gif",
                     "video_job", "video_report", "video_run"),
                    "app_ui.video_jobs"),
    **dict.fromkeys(("show_events", "timeline_figure", "video_info_text", "video_progress"),
                    "app_ui.video_view"),
    **dict.fromkeys(("IMPORT_NICENESS", "page_title", "start_warm_up", "warm_up"), "app_ui.warmup"),
    **dict.fromkeys(("NORM_LABELS", "TRAIN_OWN_HINT", "ViewSettings", "map_caption", "model_card_label",
                     "overlay_controls", "show_verdict", "synthetic_model_hint", "verdict_text",
                     "view_controls"),
                    "app_ui.widgets"),
}

__all__ = [
    "APP_PAGES", "CAM", "DEFAULTS", "DISPLAY_MAX_SIDE", "HOME_PAGE", "IMAGE_TYPES", "LABELLED_SET", "LAST_BATCH",
    "METHODS", "NORM_LABELS", "NO_MODELS_MESSAGE", "OUTLINE_WIDTH", "SAMPLE_CLIP_NAME", "SAMPLE_MASK_SOURCE",
    "SCORE_COLUMNS", "SCORE_LIMIT", "STALE_UPLOAD_HINT", "TRAIN_OWN_HINT", "VIDEO_JOB", "VIDEO_RUN",
    "VIDEO_THRESHOLD", "VIDEO_TYPES", "TRAIN_DATA", "TRAIN_RESULT", "add_checkpoint", "MODEL_FILE_TYPES",
    "default_resize", "forget_train_data", "history_charts", "prepare_data", "target_path", "Batch", "DefectMask", "InputImage", "LabelledSet", "MapMethod", "ModelRef",
    "NetworkScores", "VideoJob", "VideoRun", "VideoSettings", "VideoSource", "ViewSettings", "attach_masks",
    "available_pages", "decode_image", "digest_of", "display_copy", "display_mask", "draw_menu",
    "encode_jpeg", "encode_png", "error_line", "explain_inputs", "get_explainer", "init_state", "keep_batch",
    "keep_video_run", "labelled_set", "last_batch", "load_uploads", "map_caption", "mask_scores", "method_picker", "engine_label",
    "model_card", "model_names", "shipped_model_names", "model_picker", "model_ref", "overlay_controls", "overlays_zip", "own_input_names", "page_menu",
    "pointing_lines", "probe_source", "raw_grid_figure", "render_maps", "report_html", "render_overlays", "run_guarded",
    "run_video", "sample_clip", "sample_image", "sample_picker", "score_networks", "scores_csv", "scores_json_bytes",
    "scores_key", "show_error", "show_mask_panel", "show_verdict", "model_card_label", "stage_video", "start_video_job",
    "synthetic_model_hint", "tab_icon", "timed_explain", "timed_explanation", "timeline_figure", "show_events", "verdict_text", "verdicts",
    "colormap_control", "grid_range", "kept_choice", "grid_values", "model_scale_of", "outlined_display", "show_blended_maps",
    "video_frame", "video_gif", "video_info_text", "video_job", "video_progress", "video_report", "video_run",
    "view_controls",
    "domain_caption", "domain_cell", "show_run_summary", "frames_domain_note", "gallery_score", "gallery_verdict",
    "score_flags",
    "IMPORT_NICENESS", "page_title", "start_warm_up", "warm_up",
]
__getattr__, __dir__ = lazy_names(__name__, _HOMES)
