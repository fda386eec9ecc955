"""Video: every frame of a clip explained by the CLI's pipeline, a P(NG) timeline and any frame up close.

The run happens in this page's script run (:func:`app_ui.run_video` → :func:`cam_core.video.explain_video`);
its progress callback drives the progress bar. Cancel (or any widget change while it runs) makes
Streamlit rerun the page, which interrupts the run at its next progress call; cam_core then deletes
its partial files. The result stays in session state (files in a scratch folder), so moving the frame
slider or switching pages never recomputes it.
"""

from __future__ import annotations

import streamlit as st

import app_ui as ui
from cam_core import CamInspectorError
from cam_core.explain import shown_classes, verdict_of
from cam_core.options import Colormap, Layout, ScaleMode
from cam_core.video import GIF_MAX_FPS, GIF_MAX_WIDTH

LAYOUTS = {Layout.OVERLAY.value: "Overlay (NG map)", Layout.SIDE_BY_SIDE.value: "Side by side (OK | NG)"}
LAYOUT_SHORT = {Layout.OVERLAY.value: "NG overlay", Layout.SIDE_BY_SIDE.value: "OK | NG side by side"}
MAX_SIDES = [160, 240, 320, 480, 640, 960, 1280]
FRAME = "video_frame"            # the frame slider
TIMELINE = "video_timeline"      # the timeline chart (its point selection)
CANCELLED = "video_cancelled"
JOB_ERROR = "video_job_error"


def sidebar_controls() -> tuple[str | None, ui.MapMethod, ui.VideoSettings]:
    """Network, method and the video settings (kept across pages through ``cfg_*`` keys)."""
    sidebar = st.sidebar
    model = ui.model_picker(sidebar)
    method = ui.method_picker(sidebar, model)
    opacity, colormap = ui.overlay_controls(sidebar)
    if st.session_state.get("cfg_video_layout") not in LAYOUTS:
        st.session_state["cfg_video_layout"] = ui.DEFAULTS["cfg_video_layout"]
    if st.session_state.get("cfg_video_max_side") not in MAX_SIDES:
        st.session_state["cfg_video_max_side"] = ui.DEFAULTS["cfg_video_max_side"]
    layout = sidebar.radio("Layout", list(LAYOUTS), format_func=LAYOUTS.get, key="cfg_video_layout",
                           help="Overlay: the NG map over the frame, red for a defect, blue against, no colour for "
                                "neither (the colour map is always coolwarm here). Side by side: OK map | NG map "
                                "(twice as wide), each coloured only where it sees evidence for its own class.")
    every = sidebar.number_input("Explain every N-th frame", min_value=1, max_value=60, step=1,
                                 key="cfg_video_every",
                                 help="N > 1 is N times faster; the frames in between reuse the last explained "
                                      "frame's map and verdict (the video keeps every frame).")
    max_side = sidebar.select_slider("Max side (px)", MAX_SIDES, key="cfg_video_max_side",
                                     help="Frames are downscaled so their longer side is at most this.")
    parts = sidebar.toggle("One verdict per part (conveyor)", key="cfg_video_parts",
                           help="Follows each part that crosses the view and explains it on its own, so a clean "
                                "part beside a defective one reads OK. Assumes a fixed camera, parts moving "
                                "across a fairly uniform belt without touching.")
    return model, method, ui.VideoSettings(layout=Layout(layout), opacity=opacity, colormap=Colormap(colormap),
                                           every=int(every), max_side=int(max_side), track_parts=bool(parts))


def pick_source() -> ui.VideoSource | None:
    """An uploaded video (staged to disk), else the built-in sample when it is switched on."""
    left, right = st.columns([3, 2])
    upload = left.file_uploader("Upload a video", type=ui.VIDEO_TYPES, key="video_upload",
                                help="MP4, MOV, AVI, MKV, WebM or animated GIF; audio is ignored.")
    if upload is None:
        left.caption(ui.STALE_UPLOAD_HINT)
    sample = right.toggle("Use the built-in sample clip", key="video_sample",
                          help="4 s of synthetic hex nuts on a conveyor; every third one is NG.")
    if upload is not None:
        if sample:
            right.caption("The upload is used; remove it to use the sample.")
        return ui.stage_video(upload)
    return ui.sample_clip() if sample else None


def _cancel() -> None:
    job = ui.video_job()
    if job is not None:
        job.stop.set()
        st.session_state[CANCELLED] = True


@st.fragment(run_every=1.0)
def job_progress() -> None:
    """Progress of the running job (redrawn every second); when it ends, its result replaces the old one."""
    job = ui.video_job()
    if job is None:
        return
    if job.done:
        st.session_state.pop(ui.VIDEO_JOB, None)
        if job.run is not None:
            st.session_state.pop(FRAME, None)
            ui.keep_video_run(job.run)
        elif job.error:
            st.session_state[JOB_ERROR] = job.error
        st.rerun(scope="app")
        return
    fraction, text = (0.0, "starting…") if job.progress is None else \
        ui.video_progress(job.progress)
    st.progress(fraction, text=f"{job.source.name}: {text}")
    st.button("Cancel", key="video_cancel", on_click=_cancel,
              help="Stops the run; nothing of it is kept (your previous result stays).")
    st.caption("The video is explained on the server: you may leave this page and come back; it goes on.")


def _pick_from_timeline() -> None:
    """A click on the timeline selects that frame in the slider."""
    event = st.session_state.get(TIMELINE) or {}
    indices = (event.get("selection") or {}).get("point_indices") or []
    if indices:
        st.session_state[FRAME] = int(indices[0])


@st.fragment
def frame_explorer(run: ui.VideoRun) -> None:
    """Timeline + frame slider + the chosen frame large with its OK and NG maps (reruns on its own)."""
    ui.run_guarded(lambda: _frame_explorer(run))


def _frame_explorer(run: ui.VideoRun) -> None:
    frames = run.result.frames
    last = len(frames) - 1
    chosen = st.session_state.get(FRAME)
    if not isinstance(chosen, int) or not 0 <= chosen <= last:
        st.session_state[FRAME] = min(max(run.selected, 0), last)
    bundle = ui.get_explainer(run.model, run.method).bundle
    figure = ui.timeline_figure(frames, run.classes, bundle.card.defect_index, selected=st.session_state[FRAME])
    st.plotly_chart(figure, width="stretch", key=TIMELINE, on_select=_pick_from_timeline, selection_mode="points")
    ui.show_events(run.result)
    index = st.slider("Frame", 0, last, key=FRAME, help="Or click a point of the timeline.") if last > 0 else 0
    run.selected = index
    record = frames[index]

    item = ui.video_frame(run.source, index, run.settings.max_side)
    explanation = ui.explain_inputs(run.model, run.method, [item])[0]
    ui.show_verdict(st, verdict_of(explanation, ui.VIDEO_THRESHOLD), small=True,   # the video's rule
                    trained_on=bundle.trained_on, domain=explanation.domain)
    in_video = f"{record.predicted.upper()} {record.probabilities.get(record.predicted, 0.0):.1%}"
    if not record.explained:
        in_video += f", reused from frame {index - index % run.settings.every}"
    st.caption(f"Frame {index} · {record.time_s:.2f} s · in the video: {in_video} · this frame explained "
               f"now by {run.model} · {run.method.label}")
    view = ui.ViewSettings(mode=ScaleMode.EVIDENCE,
                           opacity=float(st.session_state.get("cfg_opacity", run.settings.opacity)),
                           colormap=Colormap(str(st.session_state.get("cfg_colormap", run.settings.colormap))),
                           value_range=run.result.value_range)
    classes = shown_classes(explanation)
    jpegs, scale = ui.render_maps(explanation, ui.display_copy(item), classes, view)
    for column, c in zip(st.columns(len(classes)), classes):
        caption = ui.map_caption(explanation, c, scale, "evidence",
                                 scale_text="the video's fixed evidence scale")
        column.image(jpegs[c], caption=caption, width="stretch", output_format="JPEG")


def downloads(run: ui.VideoRun) -> None:
    stem = run.source.name.rsplit(".", 1)[0] or "video"
    output, table = run.result.output, run.result.csv
    cols = st.columns(5)
    cols[0].download_button("Video (MP4)", data=lambda: output.read_bytes(), file_name=f"{stem}-cam.mp4",
                            mime="video/mp4", key="video_dl_mp4", on_click="ignore")
    cols[1].download_button("GIF", data=lambda: ui.video_gif(run), file_name=f"{stem}-cam.gif", mime="image/gif",
                            key="video_dl_gif", on_click="ignore",
                            help=f"Made when you click: at most {GIF_MAX_WIDTH} px wide and {GIF_MAX_FPS} frames/s.")
    cols[2].download_button("Frames (CSV)", data=table.read_bytes() if table else b"",
                            file_name=f"{stem}-frames.csv", mime="text/csv", key="video_dl_csv", on_click="ignore",
                            help="One row per frame: time, verdict and the probability of every class.")
    events = run.result.events_csv
    cols[3].download_button("Events (CSV)", data=events.read_bytes() if events and events.exists() else b"",
                            file_name=f"{stem}-events.csv", mime="text/csv", key="video_dl_events", on_click="ignore",
                            help="One row per NG run of frames and per part: times, peak frame, max P(defect).")
    cols[4].download_button("Report (HTML)", data=lambda: ui.video_report(run).encode("utf-8"),
                            file_name=f"{stem}-report.html", mime="text/html", key="video_dl_report",
                            on_click="ignore", help="One page for a manager: parts, NG runs with their thumbnails and "
                                                    "P(defect) over time; opens offline.")


def show_result(run: ui.VideoRun, source: ui.VideoSource | None, model: str, method: ui.MapMethod,
                settings: ui.VideoSettings) -> None:
    result = run.result
    st.divider()
    st.subheader(f"Result: {run.source.name}", anchor=False)
    rate = len(result.frames) / run.seconds if run.seconds > 0 else 0.0
    lo, hi = result.value_range
    st.caption(f"{run.model} · {run.method.label} · {ui.engine_label(run.model, run.method)} · "
               f"{LAYOUT_SHORT[run.settings.layout]} · every {run.settings.every} · "
               f"max side {run.settings.max_side} px · {result.frames_text} in {run.seconds:.1f} s "
               f"({rate:.1f} frames/s) · colour scale {lo:.3g} … {hi:.3g} ({result.scale_source})")
    for warning in result.warnings:
        st.warning(warning)
    ui.frames_domain_note(st, result.frames)
    if source is not None and source.digest != run.source.digest:
        st.info(f"This result is for {run.source.name}. Press **Explain video** to explain {source.name}.")
    elif (model, method, settings) != (run.model, run.method, run.settings):
        st.info("The settings changed since this video was made; press **Explain video** to apply them.")
    if not run.files_present:
        st.warning("The files of this result were cleaned up on the server; explain the video again.")
        return
    st.video(str(result.output))
    frame_explorer(run)
    downloads(run)


def checked_source() -> ui.VideoSource | None:
    """The chosen video with its info line; ``None`` (and an error line) when it cannot be read."""
    source = pick_source()
    if source is None:
        return None
    try:
        st.caption(ui.video_info_text(source, ui.probe_source(source)))
    except CamInspectorError as exc:
        ui.show_error(exc)
        return None
    return source


def last_outcome() -> None:
    """What became of the last job when none is running: cancelled, or its error (shown until the next run)."""
    if st.session_state.get(CANCELLED):
        st.info("Cancelled: nothing of that run was kept.")
    if st.session_state.get(JOB_ERROR):
        st.error(st.session_state[JOB_ERROR])


def explain_button(source: ui.VideoSource | None, model: str, method: ui.MapMethod, settings: ui.VideoSettings,
                   job: ui.VideoJob | None) -> None:
    """The Explain video button: starts a background job (one at a time) and reruns to show its progress."""
    go = st.button("Explain video", type="primary", key="video_go", disabled=source is None or job is not None)
    if go and source is not None and job is None:
        st.session_state.pop(CANCELLED, None)
        st.session_state.pop(JOB_ERROR, None)
        ui.start_video_job(source, model, method, settings)
        st.rerun()                     # redraw at once with the button disabled and the progress shown


def page() -> None:
    ui.page_title("Video: the maps on every frame")
    model, method, settings = sidebar_controls()
    source = checked_source()
    job = ui.video_job()
    if job is None:
        last_outcome()
    if model is None:
        return
    bundle = ui.get_explainer(model, method).bundle
    if source is not None and not source.digest.startswith("sample:"):
        ui.synthetic_model_hint(st, bundle, [source.name], what="footage")
    explain_button(source, model, method, settings, job)
    if job is not None:
        job_progress()
    run = ui.video_run()
    if run is None:
        if source is None:
            st.info("Upload a video or switch on the built-in sample, then press **Explain video**.")
        return
    show_result(run, source, model, method, settings)


ui.init_state()
ui.page_menu()
ui.run_guarded(page)
