"""``hf-skeleton app``: serve the web app (Gradio, the ``app`` extra) on a local port."""

from __future__ import annotations

import argparse

from .options import int_in


def _cmd_app(args: argparse.Namespace) -> int:
    from ..app import launch

    launch(args.host, args.port, share=args.share, generation_model=args.generation_model)
    return 0


def add_app(sub) -> None:
    p = sub.add_parser("app", help="serve the web app: upload a skeleton file or video, see what models say",
                       description="Serve the page app.py runs on a Hugging Face Space: upload a skeleton "
                                   "file (any format load_skeleton reads, a video too) or pick a sample, and "
                                   "see its stick-figure animation, DrAction frames, top-5 N-UCLA actions, a "
                                   "generated description and, with a Superman model, a predicted "
                                   "continuation. Needs pip install 'hf_skeleton[app]'.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int_in(1, 65535), default=7860, help="port (default: 7860)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    p.add_argument("--generation-model", default=None, metavar="FOLDER",
                   help="a saved Superman folder (or embedded name) for the continuation; default: the "
                        "embedded skeleton-generation model, if one is installed")
    p.set_defaults(func=_cmd_app)
