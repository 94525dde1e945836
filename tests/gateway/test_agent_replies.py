from gateway.agent_replies import COMMANDS, HELPDESK, PERMISSIONS


def test_roles_include_the_one_before_them() -> None:
    assert PERMISSIONS["helpdesk-agent"] == HELPDESK
    assert PERMISSIONS["helpdesk-agent"] < PERMISSIONS["service-support-admin"]
    assert PERMISSIONS["service-support-admin"] < PERMISSIONS["admin-agent"]


def test_only_service_support_admins_and_admin_agents_escalate() -> None:
    assert "escalate" not in PERMISSIONS["helpdesk-agent"]
    assert "escalate" in PERMISSIONS["service-support-admin"]
    assert "forward" not in PERMISSIONS["service-support-admin"]
    assert "forward" in PERMISSIONS["admin-agent"]


def test_every_command_needs_a_permission_some_role_has() -> None:
    granted = set().union(*PERMISSIONS.values())
    assert granted >= COMMANDS
