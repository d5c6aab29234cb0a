# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Export a PPO checkpoint to one self-contained ONNX policy plus a metadata JSON beside it.

The graph maps raw env observations ('observation', float32 (batch, obs_dim)) to env actions
('action'): observation normalisation (mean/std, clip) and action post-processing (clip to the
action bounds for continuous policies, argmax as int64 for discrete ones) are inside it, so a
deployment needs no statistics files and no torch. The graph is built node by node with
`onnx.helper` from the actor's weights instead of traced: it has exactly the operators we choose,
at a fixed opset, and does not depend on torch's deprecated TorchScript exporter.

The PPO policy's Gaussian lives in the env's own action units (its bounds are the env's action
space), so "unscaling to the env's action space" is the identity and adds no node; the bounds are
recorded in the metadata.
"""

import argparse
import json
from pathlib import Path
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

import lago_ros
from lago_ros.export.onnx_policy import (INPUT_NAME, METADATA_FORMAT, metadata_path_for,
                                         OUTPUT_NAME)
from lago_ros.utils import atomic_write, PathLike, sha256_file

DISCRETE_EXTRA_OUTPUT = 'logits'
CONTINUOUS_EXTRA_OUTPUT = 'action_mean'
SUPPORTED_OPSETS = range(13, 22)


class ExportError(ValueError):
    """A checkpoint or export option that cannot be turned into an ONNX policy."""


def _array(state: Dict[str, Any], key: str) -> np.ndarray:
    return np.asarray(state[key].detach().cpu().numpy(), dtype=np.float32)


def actor_layers(policy_state: Dict[str, Any]) -> List[Tuple[np.ndarray, np.ndarray]]:
    """
    Return the actor MLP's (weight (out, in), bias (out,)) pairs in order, from a state dict.

    ActorCritic's actor is Linear, Tanh, Linear, ..., Linear: its Linear layers sit at the even
    indices of `actor.<i>.weight`. A state dict of any other shape is rejected.
    """
    indices = sorted(int(key.split('.')[1]) for key in policy_state
                     if key.startswith('actor.') and key.endswith('.weight'))
    if not indices or indices != list(range(0, 2 * len(indices), 2)):
        raise ExportError(f'policy state has actor layers at {indices}; expected an ActorCritic '
                          'MLP (Linear layers at actor.0, actor.2, ...)')
    layers = [(_array(policy_state, f'actor.{i}.weight'), _array(policy_state, f'actor.{i}.bias'))
              for i in indices]
    for (w_prev, _), (w_next, _) in zip(layers[:-1], layers[1:], strict=True):
        if w_prev.shape[0] != w_next.shape[1]:
            raise ExportError(f'actor layer sizes do not chain: {w_prev.shape} then '
                              f'{w_next.shape}')
    return layers


def _normalisation_nodes(normalizer_state: Dict[str, Any], obs_dim: int
                         ) -> Tuple[List[onnx.NodeProto], List[onnx.TensorProto], str, Dict]:
    """
    Nodes computing clip((obs - mean) / std, -clip, clip); none if the normaliser is off.

    Like ObservationNormalizer.normalize, the arithmetic is in float64 and the result is cast to
    float32, so the exported normalisation is bit-identical to the one used in training.
    """
    if not normalizer_state.get('enabled', False):
        return [], [], INPUT_NAME, {'enabled': False}
    mean = np.asarray(normalizer_state['rms']['mean'], dtype=np.float64)
    var = np.asarray(normalizer_state['rms']['var'], dtype=np.float64)
    if mean.shape != (obs_dim,) or var.shape != (obs_dim,):
        raise ExportError(f'normaliser statistics have shapes {mean.shape}, {var.shape}; the '
                          f'actor expects ({obs_dim},)')
    eps, clip = float(normalizer_state['eps']), float(normalizer_state['clip'])
    std = np.sqrt(var + eps)
    inits = [numpy_helper.from_array(mean, 'obs_mean'),
             numpy_helper.from_array(std, 'obs_std'),
             numpy_helper.from_array(np.array(-clip), 'obs_clip_low'),
             numpy_helper.from_array(np.array(clip), 'obs_clip_high')]
    nodes = [helper.make_node('Cast', [INPUT_NAME], ['obs_f64'], to=TensorProto.DOUBLE),
             helper.make_node('Sub', ['obs_f64', 'obs_mean'], ['obs_centred']),
             helper.make_node('Div', ['obs_centred', 'obs_std'], ['obs_scaled']),
             helper.make_node('Clip', ['obs_scaled', 'obs_clip_low', 'obs_clip_high'],
                              ['obs_clipped']),
             helper.make_node('Cast', ['obs_clipped'], ['obs_normalised'], to=TensorProto.FLOAT)]
    info = {'enabled': True, 'clip': clip, 'eps': eps, 'mean': mean.tolist(),
            'std': std.tolist()}
    return nodes, inits, 'obs_normalised', info


def build_policy_graph(policy_state: Dict[str, Any], normalizer_state: Dict[str, Any],
                       opset: int = 17, extra_output: bool = True) -> onnx.ModelProto:
    """Build the ONNX model of the deterministic policy from a policy and a normaliser state."""
    if opset not in SUPPORTED_OPSETS:
        raise ExportError(f'opset {opset} is not supported; expected one of '
                          f'{SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}')
    layers = actor_layers(policy_state)
    obs_dim, action_dim = layers[0][0].shape[1], layers[-1][0].shape[0]
    discrete = 'log_std' not in policy_state
    nodes, inits, current, _ = _normalisation_nodes(normalizer_state, obs_dim)
    # The last layer writes the extra output directly: an Identity node would cost a kernel
    # launch per call, and ONNX Runtime's per-node overhead is most of a batch-1 query.
    head = DISCRETE_EXTRA_OUTPUT if discrete else CONTINUOUS_EXTRA_OUTPUT
    for i, (weight, bias) in enumerate(layers):
        inits += [numpy_helper.from_array(weight, f'actor_{i}_weight'),
                  numpy_helper.from_array(bias, f'actor_{i}_bias')]
        out = head if i == len(layers) - 1 else f'actor_{i}_out'
        nodes.append(helper.make_node('Gemm', [current, f'actor_{i}_weight', f'actor_{i}_bias'],
                                      [out], transB=1))
        current = out
        if i < len(layers) - 1:
            nodes.append(helper.make_node('Tanh', [current], [f'actor_{i}_tanh']))
            current = f'actor_{i}_tanh'
    if discrete:
        nodes.append(helper.make_node('ArgMax', [current], [OUTPUT_NAME], axis=1, keepdims=0))
        outputs = [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.INT64, ['batch'])]
        extra = helper.make_tensor_value_info(DISCRETE_EXTRA_OUTPUT, TensorProto.FLOAT,
                                              ['batch', action_dim])
    else:
        low, high = _array(policy_state, 'action_low'), _array(policy_state, 'action_high')
        if np.all(low == low.flat[0]) and np.all(high == high.flat[0]):
            # One Clip node when every dimension shares its bounds (Meta-World: [-1, 1]).
            inits += [numpy_helper.from_array(low.flat[0].copy(), 'action_low'),
                      numpy_helper.from_array(high.flat[0].copy(), 'action_high')]
            nodes.append(helper.make_node('Clip', [current, 'action_low', 'action_high'],
                                          [OUTPUT_NAME]))
        else:
            inits += [numpy_helper.from_array(low, 'action_low'),
                      numpy_helper.from_array(high, 'action_high')]
            nodes += [helper.make_node('Min', [current, 'action_high'], ['action_below_high']),
                      helper.make_node('Max', ['action_below_high', 'action_low'],
                                       [OUTPUT_NAME])]
        outputs = [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                                 ['batch', action_dim])]
        extra = helper.make_tensor_value_info(CONTINUOUS_EXTRA_OUTPUT, TensorProto.FLOAT,
                                              ['batch', action_dim])
    if extra_output:
        outputs.append(extra)
    graph = helper.make_graph(
        nodes, 'lago_policy',
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ['batch', obs_dim])],
        outputs, initializer=inits)
    opsets = [helper.make_opsetid('', opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name='lago_ros',
                              producer_version=lago_ros.__version__)
    # The oldest IR version that carries this opset, so older runtimes can load the file too.
    model.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(model, full_check=True)
    return model


def _policy_task(state: Dict[str, Any], task: Optional[str]) -> str:
    found = task or state.get('task') or state.get('config', {}).get('task')
    if not found:
        raise ExportError('the checkpoint does not name its task; pass task= (CLI: --task), '
                          'e.g. reach-v3 or clevr-robot')
    return str(found)


def _check_against_task(task: str, obs_dim: int, action_dim: int, discrete: bool) -> None:
    from lago_ros.envs.registry import get_task

    spec = get_task(task)
    kind = 'discrete' if discrete else 'continuous'
    if (spec.obs_dim, spec.action_dim, spec.action_type) != (obs_dim, action_dim, kind):
        raise ExportError(f'the policy maps {obs_dim} observations to {action_dim} {kind} '
                          f'actions, but task {task} has {spec.obs_dim} observations and '
                          f'{spec.action_dim} {spec.action_type} actions')


def export_policy(checkpoint: PathLike, out_path: PathLike, opset: int = 17,
                  deterministic: bool = True, task: Optional[str] = None,
                  extra_output: bool = True) -> Tuple[Path, Path]:
    """
    Export the deterministic policy of a PPO checkpoint; return (onnx_path, metadata_path).

    Both files are written atomically; the metadata records the task, shapes, observation and
    action layouts, the opset, and sha256 sums of the source checkpoint and of the ONNX file.
    """
    if not deterministic:
        raise ExportError('only the deterministic policy can be exported (deterministic=True)')
    from lago_ros.envs.families import family_of
    from lago_ros.envs.registry import get_task
    from lago_ros.envs.state_view import layout_metadata
    from lago_ros.rl.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    task = _policy_task(state, task)
    model = build_policy_graph(state['policy'], state['obs_normalizer'], opset, extra_output)
    layers = actor_layers(state['policy'])
    obs_dim, action_dim = layers[0][0].shape[1], layers[-1][0].shape[0]
    discrete = 'log_std' not in state['policy']
    _check_against_task(task, obs_dim, action_dim, discrete)
    onnx_path = Path(out_path)
    with atomic_write(onnx_path, 'wb') as handle:
        handle.write(model.SerializeToString())
    _, _, _, normalisation = _normalisation_nodes(state['obs_normalizer'], obs_dim)
    outputs = [out.name for out in model.graph.output]
    metadata = {
        'format': METADATA_FORMAT,
        'task': task,
        'obs_dim': obs_dim,
        'action_type': 'discrete' if discrete else 'continuous',
        'action_dim': action_dim,
        'action_shape': [] if discrete else [action_dim],
        'action_dtype': 'int64' if discrete else 'float32',
        'input_name': INPUT_NAME,
        'output_names': outputs,
        'deterministic': True,
        'opset': opset,
        'observation_layout': layout_metadata(task),
        'observation_normalisation': normalisation,
        'action_layout': family_of(task).action_layout(get_task(task)),
        'action_bounds': None if discrete else {
            'low': _array(state['policy'], 'action_low').tolist(),
            'high': _array(state['policy'], 'action_high').tolist()},
        'global_step': int(state.get('global_step', 0)),
        'checkpoint_sha256': sha256_file(checkpoint),
        'onnx_file': onnx_path.name,
        'onnx_sha256': sha256_file(onnx_path),
        'lago_ros_version': lago_ros.__version__,
    }
    meta_path = metadata_path_for(onnx_path)
    with atomic_write(meta_path, 'w') as handle:
        json.dump(metadata, handle, indent=2)
        handle.write('\n')
    return onnx_path, meta_path


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`lago export`: write <out>.onnx and <out>.json from a PPO checkpoint."""
    parser = argparse.ArgumentParser(prog='lago export', description=main.__doc__)
    parser.add_argument('checkpoint', help='PPO checkpoint (.pt) written by PPO.save')
    parser.add_argument('out', help='ONNX file to write; the metadata goes beside it as .json')
    parser.add_argument('--task', default=None,
                        help='task name, if the checkpoint does not record it (e.g. reach-v3)')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument('--no-extra-output', action='store_true',
                        help="omit the 'logits' / 'action_mean' output")
    args = parser.parse_args(argv)
    try:
        onnx_path, meta_path = export_policy(args.checkpoint, args.out, args.opset,
                                             task=args.task,
                                             extra_output=not args.no_extra_output)
    except ValueError as err:
        print(f'lago export: {err}', file=sys.stderr)
        return 2
    print(f'wrote {onnx_path} and {meta_path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
