"""The accelerator model (seed 000): layer grouping, bytes moved per layer by hand, tiling
reloads, codec chunk fetches and the transfer-dominated time."""
import numpy as np
import pytest

from edgecomp.analysis.accel_model import AccelConfig, Stored, simulate, weight_row_bytes
from edgecomp.analysis.layers import accel_layers, boundary_tensors, storage_map
from edgecomp.analysis.vgg import vgg16_qmodel
from edgecomp.errors import EdgecompError
from edgecomp.packed.model import QModel, QNode, QTensor
from edgecomp.packed.stats import encoded_bytes, sparse_bytes


def one_conv(c_out=4):
    """[1,2,8,8] -> 3x3 conv, pad 1 -> [1,c_out,8,8]; weights with zeros."""
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (c_out, 18)).astype(np.int8)
    w[rng.random(w.shape) < 0.6] = 0
    node = QNode("CONV", "conv", [0], [1], [3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, -128, 127],
                 weights=w, bias=np.zeros(c_out, np.int32),
                 multiplier=np.full(c_out, 1 << 30, np.int32), shift=np.full(c_out, 31, np.int32))
    return QModel([QTensor("x", (1, 2, 8, 8), 1.0, 0), QTensor("y", (1, c_out, 8, 8), 1.0, 0)],
                  [node], [0], [1])


def run(model, cfg, weights="dense", stored=None):
    return simulate(model, accel_layers(model), stored or {}, weights, "raw", cfg)


def test_bytes_and_time_by_hand():
    model = one_conv()
    s = run(model, AccelConfig())
    layer = s.layers[0]
    # descriptor 64 + 12 bytes of requantization per output channel; 4 x 18 dense weights;
    # 2x8x8 input and 4x8x8 output, raw
    assert (layer.config_bytes, layer.weight_bytes, layer.in_bytes, layer.out_bytes) == \
        (112, 72, 128, 256)
    assert s.total_ms == pytest.approx(568 * 8 / 2.5e9 * 1e3)
    assert run(model, AccelConfig(link_rate=5e9)).total_ms == pytest.approx(s.total_ms / 2)
    sparse = run(model, AccelConfig(), "sparse").layers[0]
    assert sparse.weight_bytes == sparse_bytes(model.nodes[0])
    assert weight_row_bytes(model.nodes[0], "sparse").sum() == sparse_bytes(model.nodes[0])


@pytest.mark.parametrize("encoding", ["bitmap", "rel4"])
def test_as_packed_moves_the_stored_encoding(encoding):
    """"as packed" is what the file stores, not dense: a bitmap-coded layer moves its bitmap."""
    model = one_conv()
    node = model.nodes[0]
    node.weight_encoding = encoding
    rows = weight_row_bytes(node, "packed")
    assert rows.sum() == pytest.approx(encoded_bytes(node))
    assert encoded_bytes(node) < node.weights.size            # smaller than dense here
    assert run(model, AccelConfig(), "packed").layers[0].weight_bytes == \
        pytest.approx(encoded_bytes(node), abs=1)


def test_row_bands_reload_the_kernel_halo():
    # feature buffer 112 bytes: an input band of b+1 rows (16 B each) plus an output band of
    # b rows (32 B each) fits for b = 2: bands of output rows [0,2) [2,4) [4,6) [6,8) read
    # input rows [0,3) [1,5) [3,7) [5,8): 14 rows of 16 bytes
    layer = run(one_conv(), AccelConfig(feature_buffer=112)).layers[0]
    assert (layer.bands, layer.in_bytes, layer.overflow) == (4, 224, [])
    tight = run(one_conv(), AccelConfig(feature_buffer=40)).layers[0]
    assert tight.bands == 8 and tight.overflow == ["features"]


def test_weight_groups_pick_the_cheaper_stationary_operand():
    # weight buffer 36 bytes: two groups of two 18-byte rows
    one_band = run(one_conv(), AccelConfig(weight_buffer=36)).layers[0]
    # weights stationary: 72 + 2 x 128 = 328; input stationary: 128 + 1 x 72 = 200
    assert (one_band.weight_groups, one_band.order) == (2, "input")
    assert (one_band.weight_bytes, one_band.in_bytes) == (72, 128)
    banded = run(one_conv(), AccelConfig(weight_buffer=36, feature_buffer=112)).layers[0]
    # output bands now hold 2 channels (16 B a row): 16 (b+1) + 16 b <= 112 gives b = 3,
    # bands [0,3) [3,6) [6,8) read input rows [0,4) [2,7) [5,8): 12 rows, 192 bytes.
    # weights stationary: 72 + 2 x 192 = 456; input stationary: 192 + 3 x 72 = 408
    assert (banded.bands, banded.order, banded.weight_bytes, banded.in_bytes) == \
        (3, "input", 216, 192)
    big = run(one_conv(), AccelConfig(weight_buffer=10)).layers[0]
    assert big.weight_groups == 4 and big.overflow == ["weights"]


def test_codec_features_are_fetched_in_whole_chunks():
    cfg = AccelConfig()
    s = Stored((1, 2, 16, 16), np.array([10.0, 20.0, 30.0, 40.0]), header=5, indexed=True,
               raw=False)
    # chunks: (c0, rows 0-7) (c0, rows 8-15) (c1, rows 0-7) (c1, rows 8-15)
    assert s.rows(0, 3, cfg) == 10 + 30 + 2 * 4
    assert s.rows(5, 12, cfg) == 100 + 4 * 4
    assert s.whole(cfg) == 5 + 100 + 4 * 4
    raw = Stored.raw_tensor((1, 2, 16, 16))
    assert raw.rows(5, 12, cfg) == 2 * 7 * 16 and raw.whole(cfg) == 512
    with pytest.raises(EdgecompError):
        AccelConfig(link_rate=0).check()


@pytest.fixture(scope="module")
def small_vgg():
    rng = np.random.default_rng(0)
    return vgg16_qmodel(rng.normal(0, 1, (2, 3, 64, 64)).astype(np.float32), resolution=64,
                        width=1 / 8, fc=32, classes=10)


def test_vgg_layers_fuse_pools_and_treat_reshape_as_a_view(small_vgg):
    model = small_vgg
    layers = accel_layers(model)
    ops = [l.ops for l in layers]
    assert ops.count("CONV+MAXPOOL") == 5 and ops.count("CONV") == 8
    assert ops[-1] == "FC+SOFTMAX" and len(layers) == 16
    store = storage_map(model)
    flat = model.tensor_index("flatten")
    assert store[flat] == model.tensor_index("pool5")
    fc6 = next(l for l in layers if l.name == "fc6")
    assert fc6.inputs == [model.tensor_index("pool5")]
    boundary = boundary_tensors(model, layers)
    assert len(boundary) == 15 and model.outputs[0] not in boundary
    unfused = accel_layers(model, fuse=False)
    assert len(unfused) == len(model.nodes) - 1  # every node but the RESHAPE view


def test_sparse_weights_cut_the_bus_time_of_a_pruned_vgg(small_vgg):
    layers = accel_layers(small_vgg)
    dense = simulate(small_vgg, layers, {}, "dense", "raw", AccelConfig())
    sparse = simulate(small_vgg, layers, {}, "sparse", "raw", AccelConfig())
    dw = sum(l.weight_bytes for l in dense.layers)
    sw = sum(l.weight_bytes for l in sparse.layers)
    assert dw == sum(n.weights.size for n in small_vgg.nodes if n.weights is not None)
    assert sw < 0.9 * dw and sparse.total_ms < dense.total_ms
    # features are the same in both
    assert [l.in_bytes for l in dense.layers] == [l.in_bytes for l in sparse.layers]
