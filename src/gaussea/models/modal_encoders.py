"""The paper model's modal encoders: pictures and numerical triples to vectors of its common dimension.

One job: encode rows of the inputs (an image's features, an ``(attribute, value)`` pair) and, for
``modal_means = "encoder"``, average the encodings of each entity's own rows. Which entity Gaussian a loss reads —
a table row or such an average — is :class:`~gaussea.models.gaussian_spaces.GaussianSpaces`' decision.

The rows come from the model's :class:`~gaussea.models.inputs.AlignmentInputs`, handed to each call rather than kept:
a device move replaces the model's inputs by a moved copy (:meth:`gaussea.models.base.AlignmentModel._apply`), and
a kept reference would go on reading the old one.
"""

from __future__ import annotations

import torch

from gaussea.modalities.numerical import NumericEncoder
from gaussea.modalities.visual import ImageEncoder
from gaussea.models.encoder_params import NumericEncoderParams
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.owners import RowsByOwner
from gaussea.models.tables import MEAN_INIT_STD

VISUAL, NUMERICAL = "vis", "num"
MODAL_SPACES = (VISUAL, NUMERICAL)


def numeric_encoder(inputs: AlignmentInputs, dim: int, params: NumericEncoderParams) -> NumericEncoder:
    """The numerical encoder of a model's inputs, with that model's encoder settings (the paper model's, IMUSE's)."""
    return NumericEncoder(inputs.num_attributes, dim, channels=params.cnn_channels, rbf_width=params.rbf_width,
                          how=params.numeric_norm, attribute=inputs.num_attribute, value=inputs.num_value,
                          init_std=MEAN_INIT_STD)


class ModalEncoders:
    """The image encoder ``tanh(M1 i)`` and the numerical RBF + CNN encoder, each present only where its modality is
    used; with ``encoded_means`` also each modality's rows grouped by owner (:class:`RowsByOwner`).

    Not an ``nn.Module``: the model registers :meth:`named_modules` under its own names, which are the names of the
    state dicts and checkpoints written so far (``image_encoder.*``, ``numeric_encoder.*``).
    """

    def __init__(self, inputs: AlignmentInputs, dim: int, params: NumericEncoderParams, *, visual: bool,
                 numerical: bool, encoded_means: bool) -> None:
        d, n = dim, inputs.num_entities
        self.image: ImageEncoder | None = None
        self.numeric: NumericEncoder | None = None
        self.image_rows: RowsByOwner | None = None
        self.numeric_rows: RowsByOwner | None = None
        # Built in this order (image first): both initialise from torch's global generator.
        if visual:
            self.image = ImageEncoder(inputs.image_features.shape[1], d, standardise=True,
                                      features=inputs.image_features)
            self.image_rows = RowsByOwner(inputs.image_owner, n) if encoded_means else None
        if numerical:
            self.numeric = numeric_encoder(inputs, d, params)
            self.numeric_rows = RowsByOwner(inputs.num_entity, n) if encoded_means else None

    def named_modules(self, space: str) -> list[tuple[str, torch.nn.Module]]:
        """The modules of one modality under the model's names for them (absent ones left out)."""
        named = ((("image_encoder", self.image), ("image_rows", self.image_rows)) if space == VISUAL
                 else (("numeric_encoder", self.numeric), ("numeric_rows", self.numeric_rows)))
        return [(name, module) for name, module in named if module is not None]

    def encode(self, space: str, inputs: AlignmentInputs, rows: torch.Tensor) -> torch.Tensor:
        """The encodings of the given picture rows (``space="vis"``) or numerical-triple rows (``"num"``)."""
        if space == VISUAL:
            return self.image(inputs.image_features[rows])  # type: ignore[misc]
        return self._encode_numbers(inputs, rows)

    def _encode_numbers(self, inputs: AlignmentInputs, rows: torch.Tensor) -> torch.Tensor:
        """Each distinct (attribute, value) of the rows is encoded once (numbers repeat a lot: years, counts)."""
        attr, value = inputs.num_attribute[rows], inputs.num_value[rows]
        keys = torch.stack([attr.double(), value.double()], 1)
        uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
        return self.numeric(uniq[:, 0].long(), uniq[:, 1].float())[inverse]  # type: ignore[misc]

    def entity_means(self, space: str, inputs: AlignmentInputs, entities: torch.Tensor) -> torch.Tensor:
        """The average encoding of each of the distinct ``entities``' own rows (zeros for an entity without any)."""
        grouping = self.image_rows if space == VISUAL else self.numeric_rows
        if grouping is None:
            raise ValueError("entity means need encoded_means=True")
        rows, segment = grouping.rows(entities)
        return grouping.segment_mean(self.encode(space, inputs, rows), segment, entities)
