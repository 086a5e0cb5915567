"""awsvpc tasks in a VPC without DNS hostnames (defect 7).

7. RunTask with awsvpc networking crashes (`'NetworkInterface' object has no attribute
   'private_dns_name'`) unless the VPC has DNS hostnames enabled. Fixed with a None default
   on the class; an interface with a DNS name still sets its own.
"""

from __future__ import annotations

from moto.ec2.models.elastic_network_interfaces import NetworkInterface

from jobctl.local.moto.hook import Patch

PATCHES = (Patch(NetworkInterface, "private_dns_name", None),)
