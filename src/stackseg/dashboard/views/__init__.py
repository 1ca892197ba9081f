"""The dashboard's pages: Streamlit scripts (run as `__main__` by st.navigation)."""
