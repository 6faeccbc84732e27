"""Entry point of the Streamlit app: login gate, then the multipage navigation.

Run by `monitor dashboard`; page scripts live in `dashboard/views/` and read the database through
`dashboard.context` and `monitor.store`. Not in `pages/`: Streamlit serves a `pages/` directory
beside the entry script as pages of their own, reachable by URL without running this script (and
its login gate) until some session has called `st.navigation`.
"""

from __future__ import annotations

import streamlit as st

from dashboard import auth, context

st.set_page_config(page_title="Plant Monitor", page_icon=":material/factory:", layout="wide")

config = context.settings().dashboard
user = auth.current_user(config)

# Pages are registered before the login gate, so a link to a page (an e-mail's
# /alerts?alert=<id>) opened in a new session lands there, query included, once logged in.
pages = st.navigation(
    {
        "Plant": [
            st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
            st.Page("views/alerts.py", title="Alerts", icon=":material/notifications:"),
            st.Page("views/asset.py", title="Asset", icon=":material/monitoring:"),
            st.Page("views/camera.py", title="Camera", icon=":material/photo_camera:"),
        ],
        "Engineering": [
            st.Page("views/models.py", title="Models", icon=":material/model_training:"),
            st.Page("views/maintenance.py", title="Maintenance", icon=":material/build:"),
        ],
    },
    position="sidebar" if user is not None else "hidden",
)
if user is None:
    auth.login_form(config)
    st.stop()
st.session_state[auth.PAGE_USER_KEY] = user
with st.sidebar:
    st.caption(f"{user.name} · {user.role}")
    if config.users and st.button("Log out"):
        auth.logout()
        st.rerun()
pages.run()
