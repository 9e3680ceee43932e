"""The packed .ecm model format: in-memory model, writer, reader, sparse encoding."""
from .model import QModel, QNode, QTensor
from .reader import load_ecm, parse_ecm
from .writer import save_ecm, write_ecm

__all__ = ["QModel", "QNode", "QTensor", "load_ecm", "parse_ecm", "save_ecm", "write_ecm"]
