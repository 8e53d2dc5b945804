"""Render the model card (README.md with Hub metadata) of saved folders, from their stored results.

    python model_cards/render.py                      # every embedded checkpoint, copied here too
    python model_cards/render.py path/to/folder ...   # any save_pretrained folder

A card's numbers (its results table and Hub model-index) come from the folder's eval_results.json (written
by the recipes and by `hf-skeleton evaluate --write-card`) and its training command from
training_command.txt: nothing in a card is typed by hand. A folder that already has a card keeps what only
the card says (repository id, description, datasets, license, base models): see
hf_skeleton.cards.refresh_model_card. Every card is checked with hf_skeleton.cards.validate_card_metadata
(the Hub's metadata checks that need no network).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from hf_skeleton import embedded_model_path, list_embedded_models
from hf_skeleton.cards import refresh_model_card, validate_card_metadata

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help="saved folders (default: the embedded checkpoints)")
    args = parser.parse_args()
    if args.folders:
        for folder in args.folders:
            card = refresh_model_card(folder)
            validate_card_metadata(card)
            print(f"wrote {card}")
        return
    for name in list_embedded_models():
        folder = Path(embedded_model_path(name))
        card = refresh_model_card(folder, **({} if (folder / "README.md").is_file() else
                                             {"repo_id": f"hf-skeleton/{name}"}))
        validate_card_metadata(card)
        shutil.copy(card, HERE / f"{name}.md")
        print(f"{name}: {card} -> {HERE / f'{name}.md'}")


if __name__ == "__main__":
    main()
