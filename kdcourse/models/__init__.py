"""The course's models, one file per family; everything is re-exported here.

mnist      TeacherCNN and MLP of seed 004 Task 1 (ECE1512) and Hinton et al.
"""
from .mnist import MLP, TeacherCNN, num_classes_of

__all__ = ["MLP", "TeacherCNN", "num_classes_of"]
