"""Login and roles: users and bcrypt hashes come from `dashboard.users` in the config.

viewer reads; operator also acknowledges, resolves, plans maintenance and activates models; admin
may do everything. With no users configured the dashboard is read-only for everyone (an anonymous
viewer), so a fresh install shows data without handing out write access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import bcrypt
import streamlit as st

from monitor.settings import DashboardSettings

Role = Literal["viewer", "operator", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}
# Compared against when the user name is unknown, so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=12))
SESSION_KEY = "user"
PAGE_USER_KEY = "current_user"


@dataclass(frozen=True)
class User:
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        """True when this user's role is `role` or above."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


ANONYMOUS = User("anonymous", "viewer")


def hash_password(password: str) -> str:
    """The bcrypt hash to put in `dashboard.users.<name>.password_hash`."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def authenticate(config: DashboardSettings, name: str, password: str) -> User | None:
    """The user when name and password match the config, else None."""
    entry = config.users.get(name)
    stored = entry.password_hash.encode() if entry else _DUMMY_HASH
    try:
        matches = bcrypt.checkpw(password.encode(), stored)
    except ValueError:  # a password over bcrypt's 72 bytes: no login
        return None
    if not matches or entry is None:
        return None
    return User(name, entry.role)


def current_user(config: DashboardSettings) -> User | None:
    """The logged-in user of this browser session (the anonymous viewer when no users exist)."""
    if not config.users:
        return ANONYMOUS
    user = st.session_state.get(SESSION_KEY)
    return user if isinstance(user, User) else None


def login_form(config: DashboardSettings) -> None:
    """Ask for name and password; a successful login reruns the app as that user."""
    st.title("Plant Monitor")
    with st.form("login"):
        name = st.text_input("User")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        user = authenticate(config, name.strip(), password)
        if user is None:
            st.error("Unknown user or wrong password.")
        else:
            st.session_state[SESSION_KEY] = user
            st.rerun()


def page_user() -> User:
    """The user `app.py` let in; pages run only after its login gate."""
    user = st.session_state.get(PAGE_USER_KEY)
    return user if isinstance(user, User) else ANONYMOUS


def logout() -> None:
    st.session_state.pop(SESSION_KEY, None)


def require_role(user: User, role: Role, action: str) -> bool:
    """True when `user` may do `action`; otherwise says so on the page (no widget is shown)."""
    if user.can(role):
        return True
    st.caption(f"Only an {role} can {action}; you are logged in as {user.role}.")
    return False
