# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_python build of lago_ros: the Python package, its share/ files and its executables."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'lago_ros'
NODES = ['sim_bridge', 'prior_service', 'trainer', 'deploy']

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, f'{PACKAGE}.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*launch.[pxy][yma]*')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml')),
        (f'share/{PACKAGE}/sim', glob(f'{PACKAGE}/envs/assets/*.xml')),
    ],
    # The MJCF scenes travel inside the package too, so importlib.resources finds them without ROS.
    package_data={f'{PACKAGE}.envs': ['assets/*.xml']},
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='lago_ros developers',
    maintainer_email='dev@lago-ros.example',
    description='LaGO for ROS 2: LLM action prior guiding PPO, sim bridge, prior service, deploy.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [f'{name} = {PACKAGE}.nodes.{name}:main' for name in NODES]
        + [f'lago = {PACKAGE}.cli:main'],
    },
)
