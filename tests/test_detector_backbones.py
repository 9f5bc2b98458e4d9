"""timm as researchers use it: backbones by name at their own input size, the user's ImageNet weights
through timm's own loader (offline: the test writes its own weights file), and a linear probe."""
import numpy as np
import pytest
import torch

from detector import models
from detector.data import split_by_identity
from tests.test_detector import toy_faces


@pytest.fixture(scope="module")
def resnet10t_weights(tmp_path_factory):
    """An 'ImageNet' weights file for resnet10t, as a user would download it (1000 classes)."""
    import timm

    torch.manual_seed(123)
    net = timm.create_model("resnet10t")
    path = tmp_path_factory.mktemp("weights") / "resnet10t.pth"
    torch.save(net.state_dict(), path)
    return path, net.state_dict()


@pytest.mark.parametrize("name, side, mean", [("resnet10t", 176, (0.485, 0.456, 0.406)),
                                              ("efficientnet_b0", 224, (0.485, 0.456, 0.406)),
                                              ("legacy_xception", 299, (0.5, 0.5, 0.5))])
def test_timm_backbones_work_at_their_own_input_size_and_normalisation(name, side, mean):
    det = models.create(name, image_size=64)
    assert (det.image_size, det.input_size) == (64, side)  # crops at 64 px, resized to the backbone's side
    assert tuple(det.mean.flatten().tolist()) == pytest.approx(mean)
    assert det.weights == "random init"
    assert models.create(name, image_size=64, input_size=96).input_size == 96  # --input-size, for a CPU


def test_pretrained_weights_load_through_timms_own_loader(resnet10t_weights, tmp_path):
    path, state = resnet10t_weights
    det = models.create("resnet10t", image_size=32, pretrained_file=str(path))
    mine = det.net.state_dict()
    backbone = [k for k in state if not k.startswith("fc.")]
    assert backbone and all(torch.equal(mine[k], state[k]) for k in backbone)  # every backbone weight, as saved
    assert mine["fc.weight"].shape == (1, 512)  # ImageNet's classifier left out for the one-logit head
    assert "resnet10t.pth" in det.weights and "sha256" in det.weights
    fresh = models.create("resnet10t", image_size=32)
    assert not torch.equal(fresh.net.state_dict()["conv1.0.weight"], state["conv1.0.weight"])
    again = models.load(det.save(tmp_path / "d.pt"))
    assert again.input_size == det.input_size and again.weights == det.weights


def test_weights_of_another_model_are_refused_naming_the_file(tmp_path):
    import timm

    wrong = tmp_path / "effnet.pth"
    torch.save(timm.create_model("efficientnet_b0").state_dict(), wrong)
    with pytest.raises(ValueError, match="effnet.pth: not weights of timm's resnet10t"):
        models.create("resnet10t", pretrained_file=str(wrong))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        models.create("resnet10t", pretrained_file=str(tmp_path / "missing.pth"))


def test_linear_probe_on_frozen_pretrained_features(resnet10t_weights, tmp_path):
    path, state = resnet10t_weights
    splits = split_by_identity(toy_faces(n_people=9, per=8, size=32), seed=0)
    det = models.create("probe:resnet10t", image_size=32, input_size=64, pretrained_file=str(path))
    assert det.name == "probe:resnet10t" and det.kind == "probe"
    det.fit(splits["train"], splits["val"])
    frozen = det.net.state_dict()
    assert all(torch.equal(frozen[k], state[k]) for k in frozen)  # the backbone never trains
    features = det.features(splits["test"].images)
    assert features.shape == (len(splits["test"]), 512)  # forward_features + the model's own pooling
    scores = det.predict_proba(splits["test"].images)
    assert ((scores >= 0) & (scores <= 1)).all() and 0.25 <= det.platt[0] <= 4
    det.threshold, det.domain = 0.4, "toy"
    again = models.load(det.save(tmp_path / "probe.pt"))
    assert np.allclose(again.predict_proba(splits["test"].images), scores, atol=1e-6)
    assert (again.threshold, again.domain, again.name) == (0.4, "toy", "probe:resnet10t")


def test_the_study_asks_for_weights_by_backbone_name(tmp_path, resnet10t_weights):
    from detector.command import pretrained_pairs
    from fsth.errors import UsageError

    path, _ = resnet10t_weights
    assert pretrained_pairs((str(path),), ("frequency", "probe:resnet10t")) == (("resnet10t", str(path)),)
    assert pretrained_pairs((f"resnet10t={path}",), ("resnet10t", "resnet50")) == (("resnet10t", str(path)),)
    with pytest.raises(UsageError, match="say which backbone"):
        pretrained_pairs((str(path),), ("resnet10t", "resnet50"))
    with pytest.raises(UsageError, match="a linear probe needs the backbone's ImageNet weights"):
        pretrained_pairs((), ("probe:resnet50",))
    with pytest.raises(UsageError, match="no such file"):
        pretrained_pairs(("resnet10t=nowhere.pth",), ("resnet10t",))


def test_cross_validation_passes_each_backbone_its_weights(resnet10t_weights):
    from detector.protocol import ProtocolConfig, fit_detector

    path, state = resnet10t_weights
    splits = split_by_identity(toy_faces(n_people=6, per=4, size=32), seed=0)
    cfg = ProtocolConfig(epochs=1, batch_size=8, input_size=32, pretrained=(("resnet10t", str(path)),))
    det = fit_detector("probe:resnet10t", splits["train"], splits["val"], cfg, seed=0)
    assert det.input_size == 32 and torch.equal(det.net.state_dict()["conv1.0.weight"], state["conv1.0.weight"])
