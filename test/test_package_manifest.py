# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""package.xml and setup.py agree with ROS 2 conventions and with each other."""

import ast
from pathlib import Path
import xml.etree.ElementTree as ET

ROOT = Path(__file__).resolve().parents[1]


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
