# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The installed package's share directory is found through the ament index, with its files."""

from pathlib import Path
import xml.etree.ElementTree as ET

from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
import pytest

ROOT = Path(__file__).resolve().parents[1]


# share/lago_ros/<folder> -> where its files live in the source tree (the MJCF scenes are package
# data of lago_ros.envs, copied to share/ for ROS tools).
SHARE_SOURCES = {'launch': ROOT / 'launch', 'config': ROOT / 'config',
                 'sim': ROOT / 'lago_ros' / 'envs' / 'assets'}


def test_share_directory_holds_launch_config_sim():
    share = Path(get_package_share_directory('lago_ros'))
    for folder, source_dir in SHARE_SOURCES.items():
        source = sorted(p.name for p in source_dir.iterdir() if p.is_file())
        assert source, f'the repository has no files in {source_dir}'
        installed = sorted(p.name for p in (share / folder).iterdir())
        assert installed == source, (
            f'{folder}/ in {share} differs from the source tree: run `make venv` to reinstall')
    assert ET.parse(share / 'package.xml').getroot().attrib['format'] == '3'


def test_interfaces_package_is_indexed():
    share = Path(get_package_share_directory('lago_interfaces'))
    assert (share / 'srv' / 'QueryPrior.srv').is_file()


def test_unknown_package_is_reported():
    with pytest.raises(PackageNotFoundError):
        get_package_share_directory('lago_ros_does_not_exist')
