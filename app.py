from boxes import create_app

app = create_app()
