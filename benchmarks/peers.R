# R survey timings for benchmarks/suite.py (called by it; not part of the test suite).
#
# Rscript benchmarks/peers.R DATA.csv MARGINS.csv T1,T2,... REPEAT OUT.csv BUDGET REPLICATES
#
# Reads the suite's synthetic survey, builds svydesign(ids=~psu, strata=~stratum,
# weights=~w) outside the timings, and times each task with system.time (elapsed, best
# of REPEAT; a task is not re-run once it has taken BUDGET seconds in all). The calls are
# R's defaults (no deff, svyby without covmat), i.e. less work than perception does.
# Writes OUT.csv with columns task, seconds.
suppressPackageStartupMessages(library(data.table))
args <- commandArgs(trailingOnly = TRUE)
data_csv <- args[1]
margins_csv <- args[2]
tasks <- strsplit(args[3], ",")[[1]]
repeats <- as.integer(args[4])
out_csv <- args[5]
budget <- as.numeric(args[6])
n_rep <- as.integer(args[7])

# A cold start (tasks = "cold"): in this new R process, after reading the data, time
# library(survey), svydesign and the first svymean of the 15 items (T1); writes OUT.csv
# with columns step (import, design, first), seconds.
if (identical(tasks, "cold")) {
  d <- as.data.frame(fread(data_csv))
  f_items <- as.formula(paste("~", paste(paste0("q", 1:15), collapse = " + ")))
  t_import <- system.time(suppressPackageStartupMessages(library(survey)))[["elapsed"]]
  t_design <- system.time(
    des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d))[["elapsed"]]
  t_first <- system.time(svymean(f_items, des))[["elapsed"]]
  write.csv(data.frame(step = c("import", "design", "first"),
                       seconds = c(t_import, t_design, t_first)), out_csv, row.names = FALSE)
  quit(save = "no")
}
suppressPackageStartupMessages(library(survey))

d <- as.data.frame(fread(data_csv))
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d)
items <- paste0("q", 1:15)
f_items <- as.formula(paste("~", paste(items, collapse = " + ")))
f_cats <- as.formula(paste("~", paste(sprintf("factor(c%d)", 1:5), collapse = " + ")))

best_of <- function(fun) {
  best <- Inf
  spent <- 0
  for (i in seq_len(repeats)) {
    if (spent > budget) break
    elapsed <- system.time(fun())[["elapsed"]]
    spent <- spent + elapsed
    best <- min(best, elapsed)
  }
  best
}

margins <- read.csv(margins_csv)
population <- lapply(c("sex", "agegrp", "zone"), function(v) {
  m <- margins[margins$variable == v, ]
  out <- data.frame(m$level, m$count)
  names(out) <- c(v, "Freq")
  out
})
rake_formulas <- list(~sex, ~agegrp, ~zone)

results <- data.frame(task = character(0), seconds = numeric(0))
for (task in tasks) {
  seconds <- switch(task,
    T1 = best_of(function() svymean(f_items, des)),
    T2 = best_of(function() svyby(f_items, ~domain, des, svymean)),
    T3 = {
      rep <- as.svrepdesign(des, type = "subbootstrap", replicates = n_rep)
      best_of(function() svymean(f_items, rep))
    },
    T4 = best_of(function() svyby(f_cats, ~domain, des, svymean)),
    T5 = best_of(function() {
      raked <- rake(des, rake_formulas, population,
                    control = list(maxit = 100, epsilon = 1e-8))
      svymean(f_items, raked)
    }),
    T6 = best_of(function() svyglm(q1 ~ treated * factor(wave), des)),
    NA_real_
  )
  results <- rbind(results, data.frame(task = task, seconds = seconds))
}
write.csv(results, out_csv, row.names = FALSE)
