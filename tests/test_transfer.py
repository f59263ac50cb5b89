"""Tests for dlcourse.transfer: heads replaced in place, requires_grad flags set by name and by
type, parameter groups that cover every trainable parameter once, and clear errors."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from dlcourse.transfer import (
    count_trainable,
    freeze,
    param_groups,
    replace_head,
    trainable_names,
    trainable_parameters,
    unfreeze,
)


def small_net() -> nn.Sequential:
    """conv(1->4) + BN -> conv(4->8) + BN -> pool -> linear 8->3 (all named)."""
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            block1=nn.Sequential(
                OrderedDict(conv=nn.Conv2d(1, 4, 3, bias=False), norm=nn.BatchNorm2d(4))
            ),
            block2=nn.Sequential(
                OrderedDict(conv=nn.Conv2d(4, 8, 3, bias=False), norm=nn.BatchNorm2d(8))
            ),
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            fc=nn.Linear(8, 3),
        )
    )


def all_names(model: nn.Module) -> list[str]:
    return [n for n, _ in model.named_parameters()]


def test_replace_head_finds_last_linear_and_keeps_the_body():
    model = small_net()
    body = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc")}
    new = replace_head(model, 7)
    assert model.fc is new and isinstance(new, nn.Linear)
    assert (new.in_features, new.out_features) == (8, 7) and new.bias is not None
    assert model.eval()(torch.randn(2, 1, 8, 8)).shape == (2, 7)  # eval: BN stats unchanged
    for k, v in body.items():
        assert torch.equal(model.state_dict()[k], v)


def test_replace_head_by_name_in_a_nested_model_and_without_bias():
    model = nn.Sequential(
        OrderedDict(
            mlp=nn.Sequential(OrderedDict(hidden=nn.Linear(5, 6), out=nn.Linear(6, 2))),
            aux=nn.Linear(5, 5, bias=False),
        )
    )
    new = replace_head(model, 4, name="mlp.out")
    assert model.mlp.out is new and new.out_features == 4 and new.in_features == 6
    last = replace_head(model, 9)  # the last registered nn.Linear is "aux"
    assert model.aux is last and last.bias is None and last.in_features == 5


def test_replace_head_bad_inputs():
    with pytest.raises(TypeError, match="nn.Module"):
        replace_head("model", 3)
    with pytest.raises(ValueError, match="positive"):
        replace_head(small_net(), 0)
    with pytest.raises(TypeError, match="num_classes"):
        replace_head(small_net(), 2.5)
    with pytest.raises(ValueError, match="no module named 'head'.*fc"):
        replace_head(small_net(), 3, name="head")
    with pytest.raises(TypeError, match="not an nn.Linear"):
        replace_head(small_net(), 3, name="block1.conv")
    with pytest.raises(ValueError, match="no nn.Linear"):
        replace_head(nn.Sequential(nn.Conv2d(1, 1, 1)), 3)


def test_freeze_everything_then_unfreeze_by_prefix_glob_and_type():
    model = small_net()
    total = sum(p.numel() for p in model.parameters())
    assert freeze(model) == total and trainable_names(model) == []
    # 8 * 3 + 3 values in the head.
    assert unfreeze(model, names="fc") == 27
    assert trainable_names(model) == ["fc.weight", "fc.bias"]
    unfreeze(model, types=nn.BatchNorm2d)
    assert trainable_names(model) == [
        "block1.norm.weight", "block1.norm.bias",
        "block2.norm.weight", "block2.norm.bias",
        "fc.weight", "fc.bias",
    ]  # fmt: skip
    assert count_trainable(model) == 2 * 4 + 2 * 8 + 27
    freeze(model, names="block*.norm")  # a glob over module names
    assert trainable_names(model) == ["fc.weight", "fc.bias"]
    assert trainable_parameters(model) == [model.fc.weight, model.fc.bias]


def test_freeze_by_name_does_not_touch_similar_prefixes():
    model = nn.Sequential(OrderedDict(layer1=nn.Linear(2, 2), layer10=nn.Linear(2, 2)))
    freeze(model, names="layer1")  # a dotted prefix: layer1.*, not layer10.*
    assert trainable_names(model) == ["layer10.weight", "layer10.bias"]


def test_freeze_names_and_types_take_the_union():
    model = small_net()
    freeze(model, names=["block1"], types=[nn.Linear])
    names = ["block2.conv.weight", "block2.norm.weight", "block2.norm.bias"]
    assert trainable_names(model) == names


def test_frozen_parameters_do_not_change_in_an_optimizer_step():
    model = small_net()
    freeze(model, names=["block1", "block2.conv"])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(trainable_parameters(model), lr=0.5)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 1, 8, 8)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    opt.step()
    for n, p in model.named_parameters():
        changed = not torch.equal(p, before[n])
        assert changed == (n.startswith("block2.norm") or n.startswith("fc")), n
        if not p.requires_grad:
            assert p.grad is None


def test_freeze_bad_inputs():
    model = small_net()
    with pytest.raises(ValueError, match="no parameter matches the name 'blokc1'.*block1"):
        freeze(model, names="blokc1")
    with pytest.raises(ValueError, match="no module of type BatchNorm1d"):
        freeze(model, types=nn.BatchNorm1d)
    with pytest.raises(ValueError, match="no module of type ReLU"):  # no parameters
        freeze(nn.Sequential(nn.ReLU()), types=nn.ReLU)
    with pytest.raises(TypeError, match="names"):
        freeze(model, names=[3])
    with pytest.raises(TypeError, match="names"):
        freeze(model, names=[])
    with pytest.raises(TypeError, match="nn.Module subclasses"):
        unfreeze(model, types=int)
    with pytest.raises(TypeError, match="nn.Module"):
        freeze([nn.Linear(1, 1)])
    assert count_trainable(model) == sum(p.numel() for p in model.parameters())  # untouched


def test_param_groups_assign_every_trainable_parameter_once():
    model = small_net()
    freeze(model, names="block1")
    groups = param_groups(model, {"fc": 1e-2, "block2.norm": 3e-3}, default_lr=1e-4)
    by_name = {g["name"]: g for g in groups}
    assert [g["name"] for g in groups] == ["fc", "block2.norm", "default"]
    assert [g["lr"] for g in groups] == [1e-2, 3e-3, 1e-4]
    assert by_name["fc"]["params"] == [model.fc.weight, model.fc.bias]
    assert by_name["block2.norm"]["params"] == [model.block2.norm.weight, model.block2.norm.bias]
    assert by_name["default"]["params"] == [model.block2.conv.weight]
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in trainable_parameters(model))
    # The optimizer keeps one learning rate per group.
    opt = torch.optim.Adam(groups)
    assert [g["lr"] for g in opt.param_groups] == [1e-2, 3e-3, 1e-4]


def test_param_groups_longest_prefix_wins_and_no_default_group_when_all_covered():
    model = small_net()
    groups = param_groups(model, {"block2": 1.0, "block2.norm": 2.0, "block1": 3.0, "fc": 4.0})
    by_name = {g["name"]: g for g in groups}
    assert "default" not in by_name
    assert by_name["block2"]["params"] == [model.block2.conv.weight]
    assert len(by_name["block2.norm"]["params"]) == 2


def test_param_groups_step_uses_each_group_lr():
    model = nn.Sequential(OrderedDict(a=nn.Linear(1, 1, bias=False), b=nn.Linear(1, 1, bias=False)))
    with torch.no_grad():
        model.a.weight.fill_(1.0)
        model.b.weight.fill_(1.0)
    opt = torch.optim.SGD(param_groups(model, {"b": 0.1}, default_lr=0.01))
    model(torch.ones(1, 1)).sum().backward()  # d(a*b)/da = b = 1, d/db = a = 1
    opt.step()
    assert model.a.weight.item() == pytest.approx(1.0 - 0.01)
    assert model.b.weight.item() == pytest.approx(1.0 - 0.1)


def test_param_groups_bad_inputs():
    model = small_net()
    with pytest.raises(ValueError, match="no trainable parameter matches 'head'"):
        param_groups(model, {"head": 1e-3}, default_lr=1e-4)
    with pytest.raises(ValueError, match="match no key.*default_lr"):
        param_groups(model, {"fc": 1e-3})
    with pytest.raises(ValueError, match="positive finite"):
        param_groups(model, {"fc": 0.0}, default_lr=1e-4)
    with pytest.raises(ValueError, match="positive finite"):
        param_groups(model, {"fc": float("nan")}, default_lr=1e-4)
    with pytest.raises(ValueError, match="default_lr"):
        param_groups(model, {"fc": 1e-3}, default_lr=-1.0)
    with pytest.raises(TypeError, match="positive number"):
        param_groups(model, {"fc": True}, default_lr=1e-4)
    with pytest.raises(TypeError, match="positive number"):
        param_groups(model, {"fc": "1e-3"}, default_lr=1e-4)
    with pytest.raises(TypeError, match="non-empty mapping"):
        param_groups(model, {}, default_lr=1e-4)
    with pytest.raises(TypeError, match="non-empty strings"):
        param_groups(model, {"": 1e-3}, default_lr=1e-4)
    freeze(model, names="fc")
    with pytest.raises(ValueError, match="no trainable parameter matches 'fc'"):
        param_groups(model, {"fc": 1e-3}, default_lr=1e-4)
