"""Render the model card (README.md with Hub metadata) of saved folders, from their stored results.

    python model_cards/render.py                      # every embedded checkpoint, copied here too
    python model_cards/render.py path/to/folder ...   # any save_pretrained folder

A card's numbers come from the folder's eval_results.json (written by the recipes and by
`hf-skeleton evaluate --write-card`) and its training command from training_command.txt: nothing in
a card is typed by hand. The renderer itself is hf_skeleton.cards.write_model_card.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from hf_skeleton import embedded_model_path, list_embedded_models
from hf_skeleton.cards import write_model_card

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help="saved folders (default: the embedded checkpoints)")
    args = parser.parse_args()
    if args.folders:
        for folder in args.folders:
            print(f"wrote {write_model_card(folder)}")
        return
    for name in list_embedded_models():
        folder = Path(embedded_model_path(name))
        card = folder / "README.md"
        if not card.is_file():  # keep the descriptions written when the checkpoint was made
            write_model_card(folder, repo_id=f"hf-skeleton/{name}")
        shutil.copy(card, HERE / f"{name}.md")
        print(f"{name}: {card} -> {HERE / f'{name}.md'}")


if __name__ == "__main__":
    main()
