"""Every constant of the method, named once (see shared MOTE_METHOD.md)."""

import math

# Section 1: frames and CLIP.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_NUM_FRAMES = 8
CROP_SIZE = 224
TRAIN_SHORT_SIDE = 256

# Section 2: temporal module.
POSITION_TABLE_ROWS = 77
LAYER_NORM_EPS = 1e-12
INIT_STD = 0.02
HEAD_DIM = 64  # heads = CLIP text width / 64
MLP_RATIO = 4
QUICK_GELU_SCALE = 1.702
DEFAULT_NUM_EXPERTS = 4
ROUTING_TEMPERATURE = 1.0
WMR_TAU_STEP = 0.6
WMR_TAU_MULTIPLIERS = (-16, -8, -4, -2, -1, 1, 2, 4, 8, 16)
WMR_TAU_CANDIDATES = tuple(m * WMR_TAU_STEP for m in WMR_TAU_MULTIPLIERS) + (math.inf,)
# The paper's ablations of the two draws (tables 2 and 7), as recipe switches.
ROUTING_MODES = ("multinomial", "random", "fixed")  # softmax([1..N] / T), uniform, always expert N
TAU_SAMPLINGS = ("discrete", "continuous")  # the candidate set, or uniform over its finite range
LOSS_WEIGHT_EXPERT = 1.0
LOSS_WEIGHT_MERGED = 0.5
LOSS_WEIGHT_MSE = 0.1

# Section 3: training recipe.
WEIGHT_DECAY = 0.2
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
HEAD_LR = 5e-5
CLIP_LR_RATIO = 0.07
WARMUP_EPOCHS = 5
SEED = 1024
TRAIN_AREA_RANGE = (0.08, 1.0)
TRAIN_ASPECT_RANGE = (3 / 4, 4 / 3)  # uniform in the release's GroupRandomSizedCrop, log-uniform in torchvision's
TRAIN_CROP_ATTEMPTS = 10
TRAIN_SWAP_PROB = 0.5  # the release swaps the drawn crop's width and height with this probability
# "release": the authors' GroupRandomSizedCrop (the method); "torchvision": RandomResizedCrop (a deviation).
TRAIN_CROPS = ("release", "torchvision")
FLIP_PROB = 0.5
GRAYSCALE_PROB = 0.2
# Something-Something v2: every frame resized to exactly (h, w), no grayscale, and a flip
# that swaps the labels of these left/right classes (ids 86/87, 93/94, 166/167 in the
# official labels JSON order, which the release uses), found by name in the user's labels.
SSV2_SIZE = (256, 320)
SSV2_FLIP_PAIRS = (
    ("Pulling something from left to right", "Pulling something from right to left"),
    ("Pushing something from left to right", "Pushing something from right to left"),
    ("Turning the camera left while filming something", "Turning the camera right while filming something"),
)

# Section 4: evaluation.
# Version of the pixel pipeline (decoded frame -> normalised crop). Frame stores and
# frame-embedding caches record it, so a cache made by another version is recomputed.
# 1: tensor resizes (bilinear training scale, long side rounded); 2: the release's PIL
# path (bicubic, long side truncated, GroupRandomSizedCrop, GroupFullResSample offsets).
PIXEL_VERSION = 2
ZERO_SHOT_CLIPS = 3
ZERO_SHOT_PATCH_ALPHA = 0.99
HALF_CLASS_SEEDS = tuple(range(10))
FEW_SHOT_KS = (2, 4, 8, 16)

# Section 5: temporal feature modulation.
TFM_K = 5
TFM_SCALE = 0.05

# Section 7: the 28 prompt templates, openings outer and forms inner.
PROMPT_OPENINGS = ("a photo of", "a video of", "a example of", "a demonstration of")
PROMPT_FORMS = (
    "{o} {c}.",
    "{o} a person {c}.",
    "{o} a person using {c}.",
    "{o} a person doing {c}.",
    "{o} a person during {c}.",
    "{o} a person performing {c}.",
    "{o} a person practicing {c}.",
)
PROMPT_TEMPLATES = tuple(
    form.replace("{o}", opening) for opening in PROMPT_OPENINGS for form in PROMPT_FORMS
)
assert len(PROMPT_TEMPLATES) == 28
