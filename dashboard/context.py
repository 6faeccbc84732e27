"""What every page shares: the configuration and one database engine per dashboard process.

`monitor dashboard --config PATH` passes the config path in MONITOR_CONFIG, because Streamlit runs
the page scripts itself and has no other way to hand them arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st
from sqlalchemy.engine import Engine

from dashboard.launch import CONFIG_ENV
from monitor.settings import Settings, load_settings
from monitor.store.db import create_engine_for


@st.cache_resource
def settings() -> Settings:
    path = os.environ.get(CONFIG_ENV)
    return load_settings(Path(path) if path else None)


@st.cache_resource
def engine() -> Engine:
    return create_engine_for(settings().database.url)
