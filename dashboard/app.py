"""Entry point of the Streamlit app: login gate, then the multipage navigation.

Run by `monitor dashboard`; page scripts live in `dashboard/pages/` and read the database through
`dashboard.context` and `monitor.store`.
"""

from __future__ import annotations

import streamlit as st

from dashboard import auth, context

st.set_page_config(page_title="Plant Monitor", page_icon=":material/factory:", layout="wide")

config = context.settings().dashboard
user = auth.current_user(config)
if user is None:
    auth.login_form(config)
    st.stop()
st.session_state[auth.PAGE_USER_KEY] = user

pages = st.navigation(
    {
        "Plant": [
            st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
            st.Page("pages/alerts.py", title="Alerts", icon=":material/notifications:"),
            st.Page("pages/asset.py", title="Asset", icon=":material/monitoring:"),
            st.Page("pages/camera.py", title="Camera", icon=":material/photo_camera:"),
        ],
        "Engineering": [
            st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
            st.Page("pages/maintenance.py", title="Maintenance", icon=":material/build:"),
        ],
    }
)
with st.sidebar:
    st.caption(f"{user.name} · {user.role}")
    if config.users and st.button("Log out"):
        auth.logout()
        st.rerun()
pages.run()
