"""Objectives: population, empirical and online risks of a teacher-student problem, their
stacked (ensemble) forms, exact Hessians, the tangent model and shipped data sets."""
