using Distill.Metadata;

namespace Distill.Losses;

/// <summary>
/// Losses a model computes itself from the ground truth it was given — a detector's RPN and RoI-head losses — taken into an
/// experiment's weighted sum as terms of their own, so each is weighted, scheduled and logged like any other term.
/// </summary>
public static class ModelLoss
{
    /// <summary>
    /// A scalar loss the student's forward pass computed (a detector's <c>loss_objectness</c>, <c>loss_rpn_box_reg</c>,
    /// <c>loss_classifier</c>, <c>loss_box_reg</c>), unchanged. The result is a new handle on the same value (an alias), so
    /// the tap can be released independently of the term.
    /// </summary>
    /// <param name="value">a scalar (0-dimensional or one-element) loss with gradient.</param>
    [DistillLoss("model_loss", Source = "the model's own training loss (torchvision's detection losses, for detectors)",
        Formula = "value")]
    public static Tensor model_loss([Input(InputRole.Student, TensorKind.Any, Shape = "")] Tensor value)
    {
        if (value.numel() != 1)
            throw new LossArgumentException("model_loss", nameof(value), $"value must be a scalar loss, got {Guard.Shape(value)}");
        if (!value.is_floating_point())
            throw new LossArgumentException("model_loss", nameof(value), $"value must be floating point, got {value.dtype}");
        return value.dim() == 0 ? value.alias() : value.reshape();
    }
}
