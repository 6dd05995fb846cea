"""The course's models, one file per family; everything is re-exported here.

mnist      TeacherCNN and MLP of seed 004 Task 1 (ECE1512) and Hinton et al.; ConvNet3, 02's jittered teacher
subclass   SubclassNet (C*s subclass outputs, class logits from its forward), MuellerCNN
cifar_resnet  CifarResNet, resnet8x4, resnet32x4 (CRD / RRD code base, seed 001)
transfer   TransferNet: torchvision ResNet18/34/50, MobileNetV2 and EfficientNet-Lite0/1/2 with a new
           head, ImageNet weights, freezing (seeds 000, 004 Task 2)
wrn        WideResNet, WRN-d-k (seed 002)
flexible   SlimmableMobileNetV1 (switchable BN) and MSDNet (early exits), seed 003
"""
from .mnist import MLP, ConvNet3, TeacherCNN, num_classes_of

__all__ = ["MLP", "ConvNet3", "TeacherCNN", "num_classes_of"]

from .subclass import MuellerCNN, SubclassNet  # noqa: E402
__all__ += ["MuellerCNN", "SubclassNet"]

from .cifar_resnet import CifarResNet, resnet8x4, resnet32x4  # noqa: E402
__all__ += ["CifarResNet", "resnet8x4", "resnet32x4"]

from . import transfer  # noqa: E402
from .transfer import PretrainedWeightsError, TransferNet  # noqa: E402
__all__ += ["transfer", "PretrainedWeightsError", "TransferNet"]

from .wrn import WideResNet  # noqa: E402
from .flexible import MSDNet, SlimmableMobileNetV1  # noqa: E402
__all__ += ["WideResNet", "MSDNet", "SlimmableMobileNetV1"]
