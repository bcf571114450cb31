# Mitogen for Ansible's mitogen_linear strategy, with Mitogen's serialiser taught Ansible's unsafe strings.
#
# imagebuild runs every build VM's plays with this strategy when the host's Mitogen loads under its Ansible
# (src/adapters/tools/ansible-strategy.ts; --ansible-strategy). Mitogen pickles a module's name and environment to the
# target after mitogen.utils.cast() has stripped subclasses of the built-in types, but its cast() (0.3.3, Debian 12's)
# copies a str subclass with str(obj), and ansible-core's AnsibleUnsafeText.__str__ returns the object itself: a task
# `environment:` templated from vars (the frameworks role's pip settings), or a module name chosen from a fact (the
# service action), reaches the target as AnsibleUnsafeText, which it cannot unpickle ("cannot unpickle
# 'ansible.utils.unsafe_proxy'/'AnsibleUnsafeText'"). The cast below makes plain str and bytes of them, as later Mitogen
# releases do; for values that are already plain it changes nothing. It is not part of any layer key: it changes how a
# task reaches the VM, not what the task does.
from __future__ import annotations

import ansible.plugins.strategy.linear
import ansible_mitogen.strategy  # raises AnsibleError for an Ansible release this Mitogen does not support
import mitogen.core
import mitogen.utils

_mitogen_cast = mitogen.utils.cast
_mitogen_to_text = mitogen.core.to_text


def _plain(obj):
    if isinstance(obj, dict):
        return {_plain(key): _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(value) for value in obj]
    if isinstance(obj, str):
        return str.__str__(obj)  # an exact str, whatever the subclass's __str__ returns
    if isinstance(obj, bytes):
        return bytes(memoryview(obj))
    return _mitogen_cast(obj)


def _to_text(obj):
    text = _mitogen_to_text(obj)
    return str.__str__(text) if isinstance(text, str) else text


mitogen.utils.cast = _plain
mitogen.core.to_text = _to_text


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, ansible.plugins.strategy.linear.StrategyModule):
    pass
